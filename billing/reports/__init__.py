"""The monthly finance report, its exports, month close and provider invoices."""

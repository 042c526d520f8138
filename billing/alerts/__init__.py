"""Alert rules evaluated into alerts, their words, and their delivery by e-mail and webhook."""

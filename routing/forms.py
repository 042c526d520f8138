from django import forms

from routing.models import Provider


def _secret_field(label: str) -> forms.CharField:
    # Blank is left to routing.keys, which says what is wrong; the value is never rendered back.
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; shown from now on only as its mask and fingerprint.",
    )


class KeyAddForm(forms.Form):
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.all(),
        empty_label=None,
        error_messages={"invalid_choice": "Choose one of the providers in the list."},
    )
    label = forms.CharField(
        max_length=100,
        required=False,
        help_text="What it is for, e.g. prod or staging: the proxy sees it beside the key.",
    )
    secret = _secret_field("API key")


class KeyRotateForm(forms.Form):
    secret = _secret_field("New API key")

"""Form widgets shared by the apps' forms."""

from django import forms
from django.utils.html import format_html, format_html_join


class DatalistInput(forms.TextInput):
    """A text box that offers the known values in a <datalist>; the form still checks them."""

    def __init__(self, options=(), attrs=None):
        super().__init__(attrs)
        self.options = list(options)

    def render(self, name, value, attrs=None, renderer=None):
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id') or name}-options"
        attrs["list"] = list_id
        box = super().render(name, value, attrs, renderer)
        options = format_html_join(
            "", '<option value="{}">', ((option,) for option in self.options)
        )
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)

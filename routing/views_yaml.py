"""Routing rules as YAML: the draft downloaded, and a file or pasted text imported into it."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from dashboard.access import get_membership_for_user
from routing import yaml_io
from routing.rules import MAX_FALLBACKS, MAX_TARGETS
from routing.yaml_io import MAX_RULES, MAX_YAML_BYTES, export_routing_yaml, import_routing_yaml

# The shape, as the module documents it: shown beside the form.
EXAMPLE = yaml_io.__doc__.split("\n\n", 1)[1].strip()


class YamlImportForm(forms.Form):
    text = forms.CharField(label="Paste the YAML", required=False, widget=forms.Textarea)
    file = forms.FileField(label="or upload a file", required=False)

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None:
            # The file wins over the text, and is capped before it is read.
            if upload.size > MAX_YAML_BYTES:
                raise ValidationError(f"The file is larger than {MAX_YAML_BYTES // 1024} KB.")
            try:
                cleaned["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError("The file is not UTF-8 text.") from None
        if not (cleaned.get("text") or "").strip():
            raise ValidationError("Paste the YAML or choose a file.")
        return cleaned


@login_required
@require_GET
def draft_yaml(request, team):
    team = get_membership_for_user(request, team, "team.view").team
    response = HttpResponse(export_routing_yaml(team), content_type="application/yaml")
    response["Content-Disposition"] = f'attachment; filename="{team.slug}-routing-draft.yaml"'
    return response


@login_required
def routing_import(request, team):
    team = get_membership_for_user(request, team, "routing.edit").team
    posted = request.method == "POST"
    form = YamlImportForm(request.POST if posted else None, request.FILES if posted else None)
    problems, text = [], request.POST.get("text", "")
    if form.is_bound and form.is_valid():
        text = form.cleaned_data["text"]
        try:
            result = import_routing_yaml(team=team, user=request.user, text=text)
        except ValidationError as error:
            problems = error.messages
        else:
            created, updated = len(result.created), len(result.updated)
            messages.success(request, f"Imported: {created} created, {updated} updated")
            for warning in result.warnings:
                messages.warning(request, warning)
            return redirect("routing", team=team.slug)
    context = {
        "team": team,
        "form": form,
        "text": text,
        "problems": problems,
        "example": EXAMPLE,
        "limits": {
            "kb": MAX_YAML_BYTES // 1024,
            "rules": MAX_RULES,
            "targets": MAX_TARGETS,
            "fallbacks": MAX_FALLBACKS,
        },
        "active_section": "routing",
    }
    status = 400 if problems or form.errors else 200
    return render(request, "routing/yaml_import.html", context, status=status)

"""The LiteLLM companion download on the Routing page (admins: it creates a proxy token)."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from dashboard.access import get_membership_for_user
from routing.companion import RUN_COMMAND, companion_files, companion_zip, dashboard_url_check


class CompanionForm(forms.Form):
    dashboard_url = forms.CharField(
        label="This dashboard's address, as the proxy reaches it",
        max_length=500,
        help_text="The proxy polls routes and keys from it and sends usage to it.",
    )

    def clean_dashboard_url(self):
        return dashboard_url_check(self.cleaned_data["dashboard_url"])


@login_required
def companion_download(request, team):
    team = get_membership_for_user(request, team, "tokens.manage").team
    posted = request.method == "POST"
    form = CompanionForm(
        request.POST if posted else None, initial={"dashboard_url": settings.SITE_URL}
    )
    if posted and form.is_valid():
        try:
            files = companion_files(
                team=team, dashboard_url=form.cleaned_data["dashboard_url"], user=request.user
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            folder = f"{team.slug}-litellm"
            response = HttpResponse(
                companion_zip(files, folder=folder), content_type="application/zip"
            )
            response["Content-Disposition"] = f'attachment; filename="{folder}.zip"'
            # It carries a proxy token: no cache may keep a copy.
            add_never_cache_headers(response)
            return response
    context = {"team": team, "form": form, "run_command": RUN_COMMAND, "active_section": "routing"}
    return render(request, "routing/companion.html", context, status=400 if form.errors else 200)

"""The signed-in person's own alert notification preferences, at /account/notifications/."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from billing.alerts.forms import AlertPreferenceForm
from billing.alerts.preferences import alert_preference_save
from billing.models import AlertPreference


@login_required
def notification_preferences(request):
    preference = AlertPreference.objects.filter(user=request.user).first()
    deliveries = preference.deliveries if preference else {}
    form = AlertPreferenceForm(request.POST or None, deliveries=deliveries)
    if request.method == "POST" and form.is_valid():
        alert_preference_save(user=request.user, deliveries=form.cleaned_data)
        messages.success(request, "Notification preferences saved.")
        return redirect("notification_preferences")
    return render(
        request,
        "billing/notification_preferences.html",
        {"form": form},
        status=400 if form.errors else 200,
    )

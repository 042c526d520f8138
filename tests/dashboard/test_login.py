from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from dashboard.models import LoginFailure
from tests.factories import PASSWORD, UserFactory

WRONG_LOGIN = "That username and password do not match an account"


@pytest.fixture
def user(db):
    return UserFactory(username="fiona")


def _sign_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_it_signs_in_with_the_right_password(client, user):
    response = _sign_in(client, "fiona", PASSWORD)
    assert response.status_code == 302
    assert response.url == reverse("home")


def test_it_says_the_same_for_a_wrong_password_and_an_unknown_user(client, user):
    wrong_password = _sign_in(client, "fiona", "nope").content.decode()
    unknown_user = _sign_in(client, "nobody", "nope").content.decode()
    assert WRONG_LOGIN in wrong_password
    assert WRONG_LOGIN in unknown_user


def test_it_keeps_the_username_after_a_failure(client, user):
    page = _sign_in(client, "fiona", "nope").content.decode()
    assert 'value="fiona"' in page


def test_it_locks_out_after_repeated_failures(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        _sign_in(client, "fiona", "nope")
    response = _sign_in(client, "fiona", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_it_lets_the_user_in_again_after_the_lockout(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        _sign_in(client, "fiona", "nope")
    later = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    with time_machine.travel(later):
        assert _sign_in(client, "fiona", PASSWORD).status_code == 302


def test_it_locks_out_one_address_not_another(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for _ in range(2):
        _sign_in(client, "fiona", "nope")
    response = client.post(
        reverse("login"),
        {"username": "fiona", "password": PASSWORD},
        REMOTE_ADDR="10.9.8.7",
    )
    assert response.status_code == 302


def test_it_forgets_failures_after_a_successful_sign_in(client, user):
    _sign_in(client, "fiona", "nope")
    _sign_in(client, "fiona", PASSWORD)
    assert not LoginFailure.objects.filter(username="fiona").exists()


def test_it_counts_failures_whatever_the_case_of_the_username(client, user, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    _sign_in(client, "Fiona", "nope")
    _sign_in(client, "FIONA", "nope")
    assert "Too many failed" in _sign_in(client, "fiona", PASSWORD).content.decode()


def test_it_signs_out_with_a_post(client, user):
    client.force_login(user)
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


@pytest.fixture
def staff_user(db):
    return UserFactory(username="stella", is_staff=True, is_superuser=True)


def _admin_sign_in(client, username, password):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
    )


def test_the_admin_sign_in_records_each_failure(client, staff_user):
    _admin_sign_in(client, "stella", "nope")
    assert LoginFailure.objects.filter(username="stella").count() == 1


def test_the_admin_sign_in_locks_out_after_repeated_failures(client, staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        _admin_sign_in(client, "stella", "nope")
    response = _admin_sign_in(client, "stella", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failures_on_either_sign_in_page_count_towards_one_lockout(client, staff_user, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    _sign_in(client, "stella", "nope")
    _admin_sign_in(client, "stella", "nope")
    assert (
        "Too many failed sign-in attempts" in _sign_in(client, "stella", PASSWORD).content.decode()
    )


def test_the_admin_sign_in_still_lets_staff_in(client, staff_user):
    response = _admin_sign_in(client, "stella", PASSWORD)
    assert response.status_code == 302
    assert response.url == reverse("admin:index")

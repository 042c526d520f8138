from dashboard.suggestions import closest_known, did_you_mean


def test_it_finds_the_known_value_meant_whatever_the_case():
    assert closest_known("Summarisation", ["classify", "summarization"]) == "summarization"


def test_it_suggests_nothing_far_from_every_known_value():
    assert did_you_mean("translate", ["classify", "summarization"]) == ""

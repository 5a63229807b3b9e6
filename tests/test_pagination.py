"""Page parameters (widgetapi/pagination.py): a whole number is written in ASCII digits."""
from __future__ import annotations

import pytest
import webtest

WIDGETS = "/api/v1/widgets"


@pytest.mark.parametrize("value", ["1_0", "%D9%A1", "%EF%BC%91", "%201", "1%20", "+1", "0x10", "1e1", ""])
@pytest.mark.parametrize("name", ["page", "per_page"])
def test_a_number_python_reads_but_a_client_would_not_write_is_refused(
        testapp: webtest.TestApp, user_headers: dict[str, str], name: str, value: str) -> None:
    """int() takes `1_0` (10), Arabic-Indic and full-width digits and spaces around them;
    the spec's integer does not."""
    response = testapp.get(f"{WIDGETS}?{name}={value}", headers=user_headers, status=400)
    assert response.json["errors"] == {name: "must be a whole number"}


def test_page_numbers_in_ascii_digits_are_read(testapp: webtest.TestApp,
                                               user_headers: dict[str, str]) -> None:
    body = testapp.get(f"{WIDGETS}?page=002&per_page=010", headers=user_headers, status=200).json
    assert (body["page"], body["items_per_page"]) == (2, 10)
    response = testapp.get(f"{WIDGETS}?page=-1", headers=user_headers, status=400)
    assert response.json["errors"] == {"page": "must be at least 1"}
    response = testapp.get(f"{WIDGETS}?page={'9' * 30}", headers=user_headers, status=400)
    assert response.json["errors"] == {"page": "must be at most 100000000"}
    response = testapp.get(f"{WIDGETS}?page={'9' * 5000}", headers=user_headers, status=400)
    assert response.json["errors"] == {"page": "must be a whole number"}


def test_page_links_are_written_as_urlencode_writes_them(testapp: webtest.TestApp,
                                                         admin_headers: dict[str, str]) -> None:
    from urllib.parse import urlencode

    response = testapp.get("/api/v1/widgets?per_page=5&page=1", headers=admin_headers, status=200)
    expected = f"http://localhost:80/api/v1/widgets?{urlencode({'page': 1, 'per_page': 5})}"
    assert response.json["links"]["self"] == expected

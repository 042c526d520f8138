def test_it_catches(page, page_errors, live_server):
    page.goto("/accounts/login/")
    page.evaluate("console.error('boom')")
    page.evaluate("setTimeout(() => { throw new Error('kaboom') }, 0)")
    page.wait_for_timeout(300)
    assert page_errors == []

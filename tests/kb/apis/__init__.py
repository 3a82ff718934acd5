def results(response) -> list[dict]:
    """The rows of a paginated list answer, which must be a 200."""
    assert response.status_code == 200, response.json()
    return response.json()["results"]

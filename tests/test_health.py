from ep import create_app


def test_healthz_ok_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_503_when_database_does_not_answer(tmp_path):
    app = create_app(
        {
            "EP_INSTANCE_PATH": str(tmp_path),
            "EP_DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'nowhere.sqlite3'}",
            "TESTING": True,
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503

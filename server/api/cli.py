"""`amr api serve | passwd | token`: run the back-office API, set a portal password, mint an account token."""

from __future__ import annotations

import click


@click.group("api")
def api() -> None:
    """Back-office and customer-portal HTTP API (OpenAPI at /openapi.json).

    Staff tokens come from $AMR_API_STAFF_TOKENS (comma-separated); account tokens are signed with
    $AMR_API_SECRET, so every API process must share it.
    """


@api.command("serve")
@click.option("--db", "db_url", default=None, help="Store URL (default $AMR_DB_URL or sqlite:///var/amr.sqlite).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve(db_url: str | None, host: str, port: int) -> None:
    import uvicorn

    from server.api.app import create_app
    from server.api.auth import ApiSettings
    from server.store import Store

    settings = ApiSettings.from_env()
    if not settings.staff_tokens:
        click.echo("warning: no staff tokens ($AMR_API_STAFF_TOKENS): only the customer portal is usable", err=True)
    uvicorn.run(create_app(Store(db_url), settings), host=host, port=port, log_level="info")


@api.command("passwd")
@click.argument("login")
@click.option("--db", "db_url", default=None)
@click.password_option()
def passwd(login: str, db_url: str | None, password: str) -> None:
    """Set the customer-portal password of the account with LOGIN (stored as an scrypt hash)."""
    from server.api.auth import hash_password
    from server.store import NotFound, Store

    with Store(db_url) as store:
        try:
            store.set_account_password_hash(login, hash_password(password))
        except NotFound as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"password set for {login}")


@api.command("token")
@click.option("--account", "number", required=True, help="Account number.")
@click.option("--db", "db_url", default=None)
def token(number: str, db_url: str | None) -> None:
    """Print an account token (for support staff acting as the customer, and for tests)."""
    from server.api.auth import ApiSettings
    from server.store import Store

    with Store(db_url) as store:
        acc = store.account(number=number)
    if acc is None:
        raise click.ClickException(f"no account {number}")
    tok, _ = ApiSettings.from_env().issue_account_token(acc.id)
    click.echo(tok)

"""`amr bill`: one billing run for a period, files written beside each other, the run recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click


@click.command("bill")
@click.option("--period", "period_text", required=True, help="YYYY-MM or YYYY-MM..YYYY-MM (whole months).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--db", "db_url", default=None, help="Store URL (default $AMR_DB_URL or sqlite:///var/amr.sqlite).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("billing"),
              show_default=True, help="Directory for the billing file, exceptions report and run manifest.")
@click.option("--tariff", "tariff_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Tariff JSON (water_price, sewage_price, subscription, vat_rate); default MWiK K-K 2019.")
@click.option("--norms", "norms_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Norm table CSV (category,unit,value[,description]), m3 per unit per month.")
@click.option("--as-of", "as_of", default=None, help="Use only readings up to this ISO instant (reruns).")
@click.option("--service-point", "service_points", multiple=True, help="Bill only these service points.")
@click.option("--no-record", is_flag=True, help="Write files only; do not record the run (a dry run).")
@click.option("--per-service-point", is_flag=True,
              help="Also write one billing file per service point (bills-<period>-run<N>/<code>.<fmt>).")
def bill(period_text: str, fmt: str, db_url: str | None, out_dir: Path, tariff_file: Path | None,
         norms_file: Path | None, as_of: str | None, service_points: tuple[str, ...], no_record: bool,
         per_service_point: bool) -> None:
    """Bill every service point for PERIOD by the water company's rules and write the exceptions report."""
    from server.billing.engine import BillingConfig
    from server.billing.norms import NormError, NormTable
    from server.billing.period import Period, PeriodError
    from server.billing.run import BillingRunError, run_billing
    from server.billing.tariff import MWIK_KK_2019, TariffError, load_tariff
    from server.store import Store

    try:
        period = Period.parse(period_text)
        config = BillingConfig(tariff=load_tariff(tariff_file) if tariff_file else MWIK_KK_2019,
                               norms=NormTable.from_csv(norms_file) if norms_file else NormTable())
        when = None
        if as_of:
            when = datetime.fromisoformat(as_of)
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    except (PeriodError, TariffError, NormError, ValueError) as e:
        raise click.UsageError(str(e)) from None
    with Store(db_url) as store:
        try:
            res = run_billing(store, period, config=config, out_dir=out_dir, fmt=fmt, as_of=when,
                              service_points=list(service_points) or None, record=not no_record,
                              per_service_point=per_service_point)
        except BillingRunError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"period {period.label}: {res.billed}/{res.service_points} service points billed, "
               + (f"{res.settlements} contract-end/start settlements, " if res.settlements else "")
               + f"{res.exceptions} exceptions, net {res.net} zł, gross {res.gross} zł"
               + (f", run {res.run_id}" if res.run_id is not None else ""))
    for kind, path in res.files.items():
        click.echo(f"  {kind}: {path}")

"""``tuner export`` and ``tuner predict``: the returned model out of MLflow, and put to use.

Both read the model as a folder of Keras' format, skops and JSON (never a pickle), so
what they load runs no code of the files', but for a network with layers of its own: its
file comes in the folder and runs on load, which the export says; see :mod:`tuner.shipping.export`.
"""

from __future__ import annotations

import json

import click

from tuner.cli.options import output_option, tracking_option


@click.command()
@click.argument("name")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="The folder to write (new, or empty): model.keras, preprocessing.skops, model.json.",
)
@click.option("--run", "run_id", default=None, help="A search run id. Default: the latest completed search.")
@click.option(
    "--register",
    "register_as",
    default=None,
    metavar="MODEL_NAME",
    help="Also register the model in MLflow's registry under MODEL_NAME. The first version is the "
    "champion; a later one takes the alias only by scoring better on this search's test rows.",
)
@tracking_option
@output_option
def export(
    name: str, out: str, run_id: str | None, register_as: str | None, tracking_uri: str | None, output: str
) -> None:
    """Export the model of search NAME to a folder that loads without pickle (or tuner).

    \b
    Examples:
      tuner export mlp-digits --out digits-model
      tuner export mlp-digits --out digits-model --register digits
      tuner predict --model digits-model --data rows.csv --out predictions.csv
    """
    from tuner.shipping.publish import export_search
    from tuner.tracking.store import resolve_tracking_uri

    exported = export_search(resolve_tracking_uri(tracking_uri), name, out, run_id, register_as)
    if output == "json":
        click.echo(json.dumps(exported, indent=2, default=str))
        return
    size = sum(exported["files"].values())
    click.echo(f"exported {exported['model_uri']} to {exported['out']} ({size:,} bytes)")
    for file, n in exported["files"].items():
        click.echo(f"  {file}  {n:,} bytes")
    if exported["runs_code"]:
        click.echo(f"loading this model runs the code in {', '.join(exported['runs_code'])}")
    registration = exported["registration"]
    if registration:
        click.echo(f"registered {registration['uri']}: {registration['message']}")


@click.command()
@click.option(
    "--model",
    required=True,
    help="An exported folder, or models:/m-<id>, models:/NAME@champion, models:/NAME/VERSION.",
)
@click.option("--data", required=True, help="A CSV or Parquet file of rows with the model's input columns.")
@click.option(
    "--out",
    default="predictions.csv",
    show_default=True,
    help="Where to write the predictions (.csv or .parquet); nothing is written on error.",
)
@tracking_option
@output_option
def predict(model: str, data: str, out: str, tracking_uri: str | None, output: str) -> None:
    """Predict the rows of a file with a model: labels and class probabilities, or values.

    \b
    Output columns: prediction, and proba_<class> for each class (classification);
    prediction_<label> and proba_<label> per label (multilabel); prediction in the
    target's units (regression). A target column in the data is ignored.
    """
    from tuner.shipping.predict import predict_file

    path = predict_file(model, data, out, tracking_uri)
    if output == "json":
        click.echo(json.dumps({"model": model, "data": data, "out": str(path)}, indent=2))
        return
    click.echo(f"wrote predictions to {path}")


COMMANDS = [export, predict]

"""The `lifelong` command's own wiring: options reach the subcommands, strays are refused."""

from __future__ import annotations

import json

import pytest

from lifelong.cli import main


def test_clv_fit_prints_parameters_as_json(tmp_path, capsys):
    rows = ["customer_id,date,amount"]
    for customer in range(60):
        for purchase in range(1 + customer % 4):
            rows.append(
                f"{customer},2024-{1 + purchase * 3:02d}-{1 + customer % 27:02d},{10 + customer}"
            )
    path = tmp_path / "transactions.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["clv", "fit", "--transactions", str(path), "--calibration-end", "2024-09-30"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["bgnbd"]) >= {"r", "alpha", "a", "b", "ll"}
    assert set(result["gamma_gamma"]) >= {"p", "q", "gamma"}


def test_unknown_options_are_refused():
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--days", "1", "--bogus"])
    assert exit_info.value.code == 2

"""Sample formats, rtl_433-style names and SigMF metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from collector.radio.iqformat import (
    FORMATS,
    IqFormatError,
    from_raw,
    iq_filename,
    parse_filename,
    resolve,
    to_raw,
)


def test_rtl433_names_round_trip():
    name = iq_filename("g001", 868.95e6, 1.6e6, "cu8")
    assert name == "g001_868.95M_1600k.cu8"
    info = parse_filename(name)
    assert (info.fmt, info.fs, info.centre_hz) == ("cu8", 1.6e6, 868.95e6)


def test_rtl_wmbus_style_name_has_no_rate_token():
    # "2M4" is not a k token: like rtl_433 we do not guess a rate from it
    info = parse_filename("samples_868.625M_2M4_x.cu8")
    assert info.fs is None and info.centre_hz == 868.625e6


def test_missing_rate_is_a_typed_error(tmp_path):
    p = tmp_path / "capture.cu8"
    p.write_bytes(b"\x80" * 64)
    with pytest.raises(IqFormatError, match="sample rate"):
        resolve(p)
    assert resolve(p, fs=1e6, centre_hz=868.95e6).fs == 1e6


def test_sigmf_metadata(tmp_path):
    data = tmp_path / "x.sigmf-data"
    data.write_bytes(b"\x00" * 64)
    meta = {"global": {"core:datatype": "ci16_le", "core:sample_rate": 2400000},
            "captures": [{"core:sample_start": 0, "core:frequency": 868625000}]}
    data.with_suffix(".sigmf-meta").write_text(json.dumps(meta))
    info = resolve(data)
    assert (info.fmt, info.fs, info.centre_hz) == ("cs16", 2.4e6, 868.625e6)
    data.with_suffix(".sigmf-meta").write_text("{not json")
    with pytest.raises(IqFormatError):
        resolve(data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_raw_round_trip_in_8bit_counts(fmt):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(1000) + 1j * rng.standard_normal(1000)).astype(np.complex64)
    y = from_raw(to_raw(x, fmt, 20.0).view(np.uint8), fmt)
    tol = 0.51 if fmt in ("cu8", "cs8") else 0.01
    assert np.max(np.abs(y - 20 * x)) < tol * 1.5


def test_cf32_non_finite_and_huge_values_read_as_a_saturated_adc():
    v = np.array([np.nan, 0.5, np.inf, -np.inf, 1e30, -2.0], "<f4")
    x = from_raw(v.view(np.uint8), "cf32")
    assert np.isfinite(x).all()
    assert x[0] == pytest.approx(0.5j * 127.5)
    assert abs(x[1].real) == abs(x[1].imag) == pytest.approx(4.0 * 127.5)
    assert x[2] == pytest.approx(4.0 * 127.5 - 2.0 * 127.5j)

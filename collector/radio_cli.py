"""`amr synth` (telegrams -> IQ file) and `amr demod` (IQ file or live SDR -> JSON lines per frame).

numpy and the radio modules are imported inside the commands so that `amr --help` stays fast.
"""

from __future__ import annotations

import json

import click


def _freq(text: str) -> float:
    """'868.95M', '1600k', '2.4e6' -> float Hz."""
    t = text.strip().lower()
    mult = 1.0
    for suffix, m in (("ghz", 1e9), ("mhz", 1e6), ("khz", 1e3), ("hz", 1.0), ("g", 1e9), ("m", 1e6), ("k", 1e3)):
        if t.endswith(suffix):
            t, mult = t[: -len(suffix)], m
            break
    try:
        return float(t) * mult
    except ValueError:
        raise click.BadParameter(f"not a frequency/rate: {text!r}") from None


@click.command("synth")
@click.option("--telegram", "telegrams", multiple=True, help="normalised telegram hex (repeatable)")
@click.option("--random", "n_random", type=int, default=0, help="add N random telegrams")
@click.option("--length", type=int, default=42, show_default=True, help="length of random telegrams (bytes)")
@click.option("--traffic", type=float, default=None, help="random T1/C1 traffic at this many telegrams/s")
@click.option("--mode", type=click.Choice(["T1", "C1", "S1"], case_sensitive=False), default="T1", show_default=True)
@click.option("--frame-format", type=click.Choice(["A", "B"], case_sensitive=False), default="A", show_default=True)
@click.option("--ecn0", type=float, default=20.0, show_default=True, help="Ec/N0 in dB")
@click.option("--offset", "offset_hz", type=float, default=0.0, show_default=True, help="carrier offset, Hz")
@click.option("--rate-error", type=float, default=0.0, show_default=True, help="relative chip-rate error")
@click.option("--preamble-pairs", type=int, default=None, help="'01' pairs before the sync")
@click.option("--collide", type=float, default=None,
              help="add a copy of each burst (other ID) this many dB weaker, starting 1 ms later")
@click.option("--dc-db", type=float, default=None, help="DC spike power relative to the noise, dB")
@click.option("--rate", "fs", default="1600k", show_default=True, help="sample rate")
@click.option("--freq", "centre", default="868.95M", show_default=True, help="tuner centre frequency")
@click.option("--duration", type=float, default=None, help="seconds (default: fits the bursts)")
@click.option("--gap", type=float, default=0.02, show_default=True, help="seconds between bursts")
@click.option("--format", "fmt", type=click.Choice(["cu8", "cs8", "cs16", "cf32"]), default="cu8", show_default=True)
@click.option("--full-scale", type=float, default=0.7, show_default=True,
              help="peak of the strongest burst as a fraction of 8-bit full scale")
@click.option("--no-noise", is_flag=True, help="noise-free (quantisation only)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", "out_dir", default=".", show_default=True, help="output directory")
@click.option("--prefix", default="synth", show_default=True)
def synth(telegrams: tuple[str, ...], n_random: int, length: int, traffic: float | None, mode: str,
          frame_format: str, ecn0: float, offset_hz: float, rate_error: float, preamble_pairs: int | None,
          collide: float | None, dc_db: float | None, fs: str, centre: str, duration: float | None, gap: float,
          fmt: str, full_scale: float, no_noise: bool, seed: int, out_dir: str, prefix: str) -> None:
    """Write a synthetic capture (rtl_433-style name) and <file>.truth.jsonl with what it contains."""
    import numpy as np

    from collector.radio.phy import MODES
    from collector.radio.synth import Burst, Scene, random_telegram, write_scene
    from collector.radio.synth import traffic as make_traffic

    rng = np.random.default_rng(seed)
    rate, centre_hz = _freq(fs), _freq(centre)
    try:
        tgs = [bytes.fromhex(t) for t in telegrams]
    except ValueError as exc:
        raise click.BadParameter(f"telegram is not hex: {exc}") from None
    tgs += [random_telegram(rng, length) for _ in range(n_random)]
    bursts: list[Burst] = []
    t = 0.005
    p = MODES[mode.upper()]
    for tg in tgs:
        if len(tg) < 10 or tg[0] != len(tg) - 1:
            raise click.BadParameter(f"{tg.hex()} is not a normalised telegram (L must be len-1)")
        b = Burst(tg, mode.upper(), frame_format.upper(), t, ecn0, offset_hz, rate_error, preamble_pairs)
        bursts.append(b)
        if collide is not None:
            other = bytearray(tg)
            other[4:8] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
            bursts.append(Burst(bytes(other), b.mode, b.frame_format, t + 0.001, ecn0 - collide,
                                -offset_hz / 2, -rate_error, preamble_pairs))
        t += (len(tg) * 12 + 700) / p.chip_rate + gap
    if traffic:
        bursts += make_traffic(rng, duration or 10.0, traffic)
    end = max((b.start_s + 0.02 + len(b.telegram) * 40 / MODES[b.mode].chip_rate for b in bursts), default=0.1)
    scene = Scene(fs=rate, centre_hz=centre_hz, duration_s=duration or end, bursts=bursts,
                  noise=not no_noise, dc_db=dc_db, seed=seed)
    path = write_scene(scene, out_dir, prefix, fmt, full_scale=full_scale)
    click.echo(str(path))
    click.echo(f"{len(bursts)} bursts, {scene.duration_s:.3f} s; truth in {path.name}.truth.jsonl", err=True)


@click.command("demod")
@click.argument("file", required=False)
@click.option("--rtl-tcp", "rtl_tcp", default=None, metavar="HOST:PORT", help="read a remote rtl_tcp server")
@click.option("--pyrtlsdr-tcp", is_flag=True, help="--rtl-tcp speaks pyrtlsdr's own TCP protocol instead")
@click.option("--device", type=int, default=None, help="read a local RTL-SDR (USB) with this index")
@click.option("--freq", default=None, help="centre frequency (e.g. 868.95M; live default 868.95M)")
@click.option("--rate", default=None, help="sample rate (e.g. 1600k; live default 1600k)")
@click.option("--format", "fmt", type=click.Choice(["cu8", "cs8", "cs16", "cf32"]), default=None,
              help="sample format (default: from the file name / SigMF)")
@click.option("--modes", default="t1,c1,s1", show_default=True, help="link modes to receive")
@click.option("--gain", default="auto", show_default=True, help="tuner gain in dB or 'auto' (live)")
@click.option("--ppm", type=int, default=0, show_default=True, help="tuner frequency correction (live)")
@click.option("--realtime", is_flag=True, help="pace a file like a live dongle")
@click.option("--show-failures", is_flag=True, help="also print bursts that failed CRC (to stderr)")
def demod(file: str | None, rtl_tcp: str | None, pyrtlsdr_tcp: bool, device: int | None, freq: str | None,
          rate: str | None, fmt: str | None, modes: str, gain: str, ppm: int, realtime: bool,
          show_failures: bool) -> None:
    """Demodulate wM-Bus T1/C1/S1 from an IQ file or a live SDR: one JSON object per frame on stdout."""
    import time

    chosen = [x is not None for x in (file, rtl_tcp, device)]
    if sum(chosen) != 1:
        raise click.UsageError("give exactly one of FILE, --rtl-tcp HOST:PORT or --device N")
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    if file is not None and not realtime:
        # plain file: straight to the demodulator (collector.sources pulls in the decoding stack,
        # which would be most of the start-up here)
        demodulator, frames = _file_frames(file, fmt, rate, freq, modes)
        src = None
    else:
        src = _open_live(file, rtl_tcp, pyrtlsdr_tcp, device, freq, rate, fmt, modes, gain, ppm, realtime)
        demodulator, frames = src.demod, _source_frames(src)
    shown = 0
    n = 0
    try:
        for rf in frames:
            if show_failures:
                shown = _print_failures(demodulator.stats, shown)
            if rf is None:
                continue
            n += 1
            click.echo(json.dumps(rf.to_json_dict()))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        from collector.sources.base import SourceError

        if isinstance(exc, SourceError):
            raise click.ClickException(str(exc)) from None
        raise
    finally:
        if src is not None:
            src.close()
    if show_failures:
        _print_failures(demodulator.stats, shown)
    st = demodulator.stats
    air = st.samples / demodulator.fs
    cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
    modes_seen = ", ".join(f"{k} {v}" for k, v in sorted(st.by_mode.items())) or "none"
    click.echo(f"{n} frames ({modes_seen}); {st.crc_failures} CRC failures; {st.bursts} bursts; "
               f"{air:.2f} s of air in {wall:.2f} s ({air / wall if wall else 0:.0f}x real time, "
               f"{cpu:.2f} s CPU)", err=True)


def _file_frames(file: str, fmt: str | None, rate: str | None, freq: str | None, modes: str):  # noqa: ANN202
    from pathlib import Path

    from collector.radio.demod import Demodulator
    from collector.radio.iqformat import BYTES_PER_SAMPLE, IqFormatError, resolve

    path = Path(file)
    if not path.is_file():
        raise click.ClickException(f"IQ file {path} does not exist")
    try:
        info = resolve(path, fmt, _freq(rate) if rate else None, _freq(freq) if freq else None)
        wanted = tuple(m.strip().upper() for m in modes.split(",") if m.strip()) or ("T1", "C1", "S1")
        demodulator = Demodulator(info.fs, info.centre_hz, info.fmt, wanted)
    except (IqFormatError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    chunk = (1 << 20) * BYTES_PER_SAMPLE[info.fmt]

    def gen():  # noqa: ANN202
        with path.open("rb") as f:
            while data := f.read(chunk):
                usable = len(data) // BYTES_PER_SAMPLE[info.fmt] * BYTES_PER_SAMPLE[info.fmt]
                yield from demodulator.feed(data[:usable])
        yield from demodulator.flush()

    return demodulator, gen()


def _open_live(file, rtl_tcp, pyrtlsdr_tcp, device, freq, rate, fmt, modes, gain, ppm, realtime):  # noqa: ANN001, ANN202
    from collector.sources.base import SourceError

    try:
        if file is not None:
            from collector.sources.iq import IqFileSource

            return IqFileSource(file, fmt=fmt, rate=rate, freq=freq, modes=modes, realtime=realtime)
        if rtl_tcp is not None:
            from collector.sources.rtltcp import RtlTcpSource

            host, _, port = rtl_tcp.rpartition(":")
            if not host or not port.isdigit():
                raise click.BadParameter("--rtl-tcp wants HOST:PORT")
            return RtlTcpSource(host, int(port), freq=freq, rate=rate, gain=gain, ppm=ppm, modes=modes,
                                protocol="pyrtlsdr" if pyrtlsdr_tcp else "rtl_tcp")
        from collector.sources.rtlsdr import RtlSdrSource

        return RtlSdrSource(device or 0, freq=freq, rate=rate, gain=gain, ppm=ppm, modes=modes)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None


def _source_frames(src):  # noqa: ANN001, ANN202
    """RadioFrames from an SdrSource; yields None now and then so failures can be printed live."""
    while True:
        rf = src.recv_radio(1.0)
        if rf is None and (src.exhausted or src.closed):
            return
        yield rf


def _print_failures(stats, shown: int) -> int:  # noqa: ANN001 - DemodStats
    fails = list(stats.failures)
    total = stats.crc_failures
    new = fails[len(fails) - min(total - shown, len(fails)):] if total > shown else []
    for t, channel, reason in new:
        click.echo(json.dumps({"crc_failure": True, "t": round(t, 6), "channel": channel, "reason": reason}),
                   err=True)
    return total

#!/usr/bin/env python3
"""Create or extend the Mosquitto password file and one credentials file per user.

    gen_credentials.py --out /etc/mosquitto/amr importer van01 van02 ...

Writes OUT/passwd (hashed by `mosquitto_passwd`, sha512-pbkdf2) and OUT/credentials/<user>.env
(`AMR_MQTT_USERNAME=...`, `AMR_MQTT_PASSWORD=...`, mode 0600) to hand to the van or importer. Users
already present keep their password, so the command is safe to re-run when a van is added; `--rotate`
issues new passwords for the named users.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--rotate", action="store_true", help="new passwords for the named users")
    ap.add_argument("--mosquitto-passwd", default=shutil.which("mosquitto_passwd") or "mosquitto_passwd")
    ap.add_argument("users", nargs="+")
    args = ap.parse_args(argv)

    for u in args.users:
        if not USER_RE.match(u):
            print(f"invalid user name {u!r} (letters, digits, _ . - ; it becomes a topic level)", file=sys.stderr)
            return 2
    creds_dir = args.out / "credentials"
    creds_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(creds_dir, 0o700)
    passwd = args.out / "passwd"
    if not passwd.exists():
        passwd.touch(mode=0o600)

    for user in args.users:
        cred = creds_dir / f"{user}.env"
        if cred.exists() and not args.rotate:
            password = read_env(cred)["AMR_MQTT_PASSWORD"]
        else:
            password = secrets.token_urlsafe(24)
            fd = os.open(cred, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"AMR_MQTT_USERNAME={user}\nAMR_MQTT_PASSWORD={password}\n")
        # -b: batch mode; re-adding an existing user replaces its hash, so reruns converge.
        subprocess.run([args.mosquitto_passwd, "-b", str(passwd), user, password], check=True,
                       stdout=subprocess.DEVNULL)
    os.chmod(passwd, 0o600)
    print(f"{len(args.users)} user(s) in {passwd}; credentials in {creds_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

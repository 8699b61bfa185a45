"""Command line: ``python3 -m hmac_kit_client request|sign METHOD URL ...`` (and ``json`` for test harnesses)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request

from . import BODY_METHODS, __version__, parse_secret, sign, sign_components, sign_x_api


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hmac-kit-client", description="Sign HTTP requests for hmac-kit.")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("request", "send a signed request and print the response"), ("sign", "print the headers to add")):
        command = commands.add_parser(name, help=text)
        command.add_argument("method")
        command.add_argument("url")
        command.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
        data = command.add_mutually_exclusive_group()
        data.add_argument("--data", help="body as a string")
        data.add_argument("--data-file", help="body from a file (read whole: the digest needs every byte)")
        command.add_argument("--key-id", default=os.environ.get("HMAC_KIT_KEY_ID"), help="key id (or HMAC_KIT_KEY_ID)")
        command.add_argument("--secret-env", default="HMAC_KIT_SECRET", help="variable holding the secret")
        command.add_argument("--secret-file", help="file holding the secret (instead of --secret-env)")
        command.add_argument("--algorithm", choices=("sha256", "sha384", "sha512"), default="sha256", help="the key's")
        command.add_argument("--scheme", choices=("rfc9421", "x-api"), default="rfc9421")
        command.add_argument("--cover", action="append", default=[], help="extra header to cover")
        command.add_argument("-i", "--include", action="store_true", help="print response status and headers")
        command.add_argument("-v", "--verbose", action="store_true", help="print the signature base to stderr")
    commands.add_parser("json", help="read signing jobs as JSON on stdin, write results as JSON")
    return parser


def _body(args) -> bytes:
    if args.data is not None:
        return args.data.encode("utf-8")
    if args.data_file is not None:
        with open(args.data_file, "rb") as handle:
            return handle.read()
    return b""


def _headers(pairs) -> dict:
    headers = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep:
            raise SystemExit("error: header %r is not 'Name: value'" % pair)
        headers[name.strip()] = value.strip()
    return headers


def _job_body(job: dict):
    if "body_b64" in job:
        return base64.b64decode(job["body_b64"])
    return job.get("body")


def _job_secret(job: dict):
    return base64.b64decode(job["secret_b64"]) if "secret_b64" in job else job["secret"]


def _run_job(job: dict) -> dict:
    """One signing job for the test harness (every input explicit, so outputs are reproducible)."""
    try:
        op = job.get("op", "sign")
        if op == "components":
            signed = sign_components(
                job["method"],
                job["url"],
                job.get("headers", {}),
                job["components"],
                [tuple(p) for p in job["params"]],
                _job_secret(job),
                job.get("algorithm", "sha256"),
                job.get("label", "sig"),
            )
        elif op == "x-api":
            signed = sign_x_api(
                job["method"],
                job["url"],
                key_id=job["key_id"],
                secret=_job_secret(job),
                body=_job_body(job),
                algorithm=job.get("algorithm", "sha256"),
                timestamp=job.get("timestamp"),
                nonce=job.get("nonce"),
            )
        else:
            options = {
                k: job[k]
                for k in ("algorithm", "covered_headers", "label", "digest_algorithm", "created", "expires_in", "nonce", "tag")
                if k in job
            }
            signed = sign(
                job["method"],
                job["url"],
                key_id=job["key_id"],
                secret=_job_secret(job),
                headers=job.get("headers"),
                body=_job_body(job),
                **options,
            )
        return {"url": signed.url, "headers": signed.headers, "signature_base": signed.signature_base}
    except (TypeError, ValueError, KeyError) as error:
        return {"error": "%s: %s" % (type(error).__name__, error)}


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "json":
        jobs = json.load(sys.stdin)
        json.dump([_run_job(job) for job in jobs], sys.stdout)
        return 0
    if not args.key_id:
        print("error: --key-id (or HMAC_KIT_KEY_ID) is required", file=sys.stderr)
        return 2
    if args.secret_file:
        try:
            with open(args.secret_file, encoding="utf-8") as handle:
                secret = handle.read().strip()
        except OSError as error:
            print("error: %s" % error, file=sys.stderr)
            return 2
    else:
        secret = os.environ.get(args.secret_env, "")
    if not secret:
        print("error: no secret (set %s or pass --secret-file)" % args.secret_env, file=sys.stderr)
        return 2
    try:
        parse_secret(secret)
        body = _body(args)
        headers = _headers(args.header)
        if args.scheme == "x-api":
            signed = sign_x_api(args.method, args.url, key_id=args.key_id, secret=secret, body=body, algorithm=args.algorithm)
        else:
            signed = sign(
                args.method,
                args.url,
                key_id=args.key_id,
                secret=secret,
                headers=headers,
                body=body,
                covered_headers=args.cover,
                algorithm=args.algorithm,
            )
    except (TypeError, ValueError, OSError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 2
    if args.verbose:
        print("> signature base:\n%s\n" % signed.signature_base, file=sys.stderr)
    if args.command == "sign":
        for name, value in signed.headers.items():
            print("%s: %s" % (name, value))
        return 0
    method = args.method.upper()
    request = urllib.request.Request(
        signed.url,
        data=body if (body or method in BODY_METHODS) else None,
        headers={**headers, **signed.headers},
        method=method,
    )
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as error:
        response = error
    except (urllib.error.URLError, OSError) as error:
        print("error: %s" % error, file=sys.stderr)
        return 1
    if args.include:
        print("HTTP %s %s" % (response.status, response.reason))
        for name, value in response.headers.items():
            print("%s: %s" % (name, value))
        print()
    sys.stdout.write(response.read().decode("utf-8", "replace"))
    return 0 if response.status < 400 else 22


if __name__ == "__main__":
    sys.exit(main())

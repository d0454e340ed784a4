"""Delivering one message: by mail (``smtplib``) or as a JSON POST (``urllib``).

Why not apprise: it would bring some twenty packages onto a Pi that must run ten years,
its ``notify()`` answers only True or False (the reason is in its log, not in our
hands), and its mail URLs carry the password in the URL, where the Installer page
cannot hide it. Mail and an HTTP POST are two small, well-known protocols; with the
standard library every failure has a sentence that goes into the audit as it is, and
the time-outs are ours. Teams, ntfy, Mattermost and the rest take a webhook.

Each ``send`` raises :exc:`DeliveryError` with a sentence an installer can act on.
"""

from __future__ import annotations

import email.policy
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from appliance import __version__
from appliance.errors import DeliveryError


def _mail_parts(url: str) -> dict:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    to = [a.strip() for v in query.get("to", []) for a in v.split(",") if a.strip()]
    senders = query.get("from")
    sender = (senders[0] if senders else None) or f"nightswitch@{socket.gethostname()}"
    return dict(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        user=unquote(parts.username) if parts.username else None,
        to=to,
        sender=sender,
        tls=(query.get("tls") or ["auto"])[0],
    )


class MailSender:
    """Sends over SMTP: ``smtp://`` (STARTTLS when the server offers it; ``tls=starttls``
    requires it, ``tls=off`` never tries) or ``smtps://`` (TLS from the start)."""

    def __init__(self, target, *, timeout: float = 20.0):
        self.target = target
        self.parts = _mail_parts(target.url)
        self.timeout = timeout

    def describe(self) -> str:
        p = self.parts
        return f"mail to {', '.join(p['to'])} via {p['host']}:{p['port']}"

    def send(self, message: dict) -> None:
        p = self.parts
        # Python folds a long subject before its first word, which some clients show
        # with a leading blank; RFC 5322's hard limit is 998 characters.
        mail = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
        mail["Subject"] = message["subject"]
        mail["From"] = p["sender"]
        mail["To"] = ", ".join(p["to"])
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain="nightswitch")
        mail["X-Nightswitch-Event"] = f"{message['event']} {message['phase']}"
        mail.set_content(message["body"])
        where = f"{p['host']}:{p['port']}"
        client: smtplib.SMTP
        try:
            if p["scheme"] == "smtps":
                client = smtplib.SMTP_SSL(
                    p["host"], p["port"], timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(p["host"], p["port"], timeout=self.timeout)
            with client:
                client.ehlo()
                if p["scheme"] == "smtp" and p["tls"] != "off":
                    if client.has_extn("starttls"):
                        client.starttls(context=ssl.create_default_context())
                        client.ehlo()
                    elif p["tls"] == "starttls":
                        raise DeliveryError(
                            f"the mail server {where} does not offer STARTTLS "
                            "and the URL says tls=starttls"
                        )
                user = p["user"] or self.target.username
                if user and self.target.password:
                    client.login(user, self.target.password)
                refused = client.send_message(mail)
                if refused:
                    raise DeliveryError(
                        f"the mail server {where} refused "
                        + ", ".join(
                            f"{a} ({c} {m.decode(errors='replace')})"
                            for a, (c, m) in refused.items()
                        )
                    )
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"the mail server {where} refused the login: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"the mail server {where} refused every recipient: "
                + ", ".join(f"{a} ({c} {_text(m)})" for a, (c, m) in exc.recipients.items())
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"the mail server {where} answered {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from None
        except (smtplib.SMTPException, ssl.SSLError) as exc:
            raise DeliveryError(f"mail via {where} failed: {exc}") from None
        except TimeoutError:
            raise DeliveryError(
                f"the mail server {where} did not answer within {self.timeout:g} s"
            ) from None
        except OSError as exc:
            raise DeliveryError(
                f"cannot reach the mail server {where}: {exc.strerror or exc}"
            ) from None


class WebhookSender:
    """POSTs the message's JSON payload; any 2xx answer is delivered."""

    def __init__(self, target, *, timeout: float = 20.0):
        self.target = target
        self.timeout = timeout
        parts = urlsplit(target.url)
        self.where = f"{parts.scheme}://{parts.netloc}{parts.path}"

    def describe(self) -> str:
        return f"webhook {self.where}"

    def send(self, message: dict) -> None:
        body = message["payload"].encode("utf-8")
        request = urllib.request.Request(
            self.target.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"nightswitch/{__version__}",
            },
        )
        if self.target.token:
            request.add_header("Authorization", f"Bearer {self.target.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read(65536)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", errors="replace").strip()
            raise DeliveryError(
                f"the webhook {self.where} answered {exc.code} {exc.reason}"
                + (f": {detail}" if detail else "")
            ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = getattr(reason, "strerror", None) or str(reason)
            raise DeliveryError(f"cannot reach the webhook {self.where}: {text}") from None
        except TimeoutError:
            raise DeliveryError(
                f"the webhook {self.where} did not answer within {self.timeout:g} s"
            ) from None
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise DeliveryError(f"the webhook {self.where} failed: {exc}") from None


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def sender_for(target, *, timeout: float = 20.0):
    """The sender for *target* by its URL's scheme."""
    cls = MailSender if target.url.startswith("smtp") else WebhookSender
    return cls(target, timeout=timeout)

"""E-mail a procesregisseur that a new samenloopmelding waits, once per melding.

The mail says only that there is a melding and links to the inbox: no case reference,
no ZVH, no names, because e-mail leaves our hands.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage

from samenloop.node.web.actions import NodeContext

log = logging.getLogger("samenloop.web")


def mail_new_meldingen(ctx: NodeContext) -> int:
    """Send one mail per procesregisseur with unmailed meldingen; returns mails sent."""
    smtp = ctx.web.smtp
    if smtp is None:
        return 0
    pending = ctx.store.unmailed_notifications()
    by_person: dict[str, list[int]] = {}
    for melding in pending:
        by_person.setdefault(melding.procesregisseur_id, []).append(melding.id)
    sent = 0
    for person_id, ids in by_person.items():
        person = ctx.store.procesregisseur(person_id)
        if person is None:
            ctx.store.mark_mailed(ids, ctx.clock())
            continue
        message = EmailMessage()
        message["Subject"] = "Nieuwe samenloopmelding"
        message["From"] = smtp.sender
        message["To"] = person.email
        message.set_content(
            f"Beste {person.name},\n\n"
            f"Er staat een nieuwe samenloopmelding voor u klaar: een ander Zorg- en "
            f"Veiligheidshuis heeft iemand gecontroleerd die in een van uw casussen voorkomt.\n\n"
            f"Bekijk de melding na inloggen op:\n{ctx.web.public_url}/meldingen\n\n"
            f"Deze e-mail bevat bewust geen gegevens over de casus of de persoon.\n")
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
                if smtp.starttls:
                    client.starttls()
                if smtp.username and smtp.password_file:
                    client.login(smtp.username,
                                 smtp.password_file.read_text(encoding="utf-8").strip())
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("melding e-mail to procesregisseur %s failed: %s", person_id,
                        type(exc).__name__)
            continue
        ctx.store.mark_mailed(ids, ctx.clock())
        ctx.store.append_audit("melding_mailed", "web", {"procesregisseur_id": person_id,
                                                         "meldingen": len(ids)}, ctx.clock())
        sent += 1
    return sent


class MeldingMailer:
    """Polls the store every `poll_seconds` in a background thread of the web process."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.ctx.web.smtp is None:
            return
        self._thread = threading.Thread(target=self._run, name="melding-mailer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.ctx.web.smtp is not None
        while not self._stop.is_set():
            try:
                mail_new_meldingen(self.ctx)
            except Exception:
                log.exception("melding mailer failed")
            self._stop.wait(self.ctx.web.smtp.poll_seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

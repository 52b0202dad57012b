"""The privacy documents of a node, rendered from its configuration and the signed directory.

A privacy officer hands these to the stuurgroep, the Autoriteit Persoonsgegevens and the case
system's letters. They are rendered, never hand-written, so they stay true when `node.toml`
or the network's directory changes: every term, purpose, limit and member ZVH below comes
from the `NodeConfig` and the verified `NodeDirectory`. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from samenloop.node.config import NodeConfig
from samenloop.node.model import CONTACT_AFTER_ASSESSMENT
from samenloop.proto.directory import NodeDirectory

REGISTER_FILE = "verwerkingsregister.md"
INFORMATION_FILE = "informatietekst.md"
DPIA_FILE = "dpia-input.md"


class PrivacyDocsError(ValueError):
    """The configuration and directory do not describe a node in this network."""


@dataclass(frozen=True)
class PrivacyDocuments:
    """The three documents as Markdown, in Dutch."""

    verwerkingsregister: str
    informatietekst: str
    dpia_input: str

    def files(self) -> dict[str, str]:
        """File name -> Markdown text, in the order a reader needs them."""
        return {REGISTER_FILE: self.verwerkingsregister,
                INFORMATION_FILE: self.informatietekst,
                DPIA_FILE: self.dpia_input}


def render(config: NodeConfig, directory: NodeDirectory) -> PrivacyDocuments:
    """All three documents for the node `config` describes, in the network of `directory`."""
    own = directory.node(config.node_id)
    if own is None:
        raise PrivacyDocsError(f"this node ({config.node_id}) is not in the directory "
                               f"(network {directory.network}, serial {directory.serial})")
    facts = _Facts(config, directory, _text(own.display_name))
    return PrivacyDocuments(_register(facts), _information(facts), _dpia(facts))


# ---------------------------------------------------------------- shared facts


@dataclass(frozen=True)
class _Facts:
    config: NodeConfig
    directory: NodeDirectory
    zvh: str

    @property
    def members(self) -> list[str]:
        return [_text(n.display_name) for n in self.directory.nodes]

    @property
    def others(self) -> list[str]:
        return [_text(n.display_name) for n in self.directory.nodes
                if n.node_id != self.config.node_id]

    @property
    def source(self) -> str:
        issued = dt.datetime.fromtimestamp(self.directory.issued_at, dt.UTC).strftime("%Y-%m-%d")
        return (f"Gemaakt uit de configuratie van node `{self.config.node_id}` en het "
                f"ondertekende adresboek van netwerk `{_text(self.directory.network)}` "
                f"(serienummer {self.directory.serial}, uitgegeven op {issued}). Verandert "
                f"de configuratie of het adresboek, maak dit document dan opnieuw "
                f"(`samenloop node privacy-docs`).")

    @property
    def identifiers(self) -> str:
        """The dat-gegevens, as the network's directory has decided on BSN."""
        base = "naam (achternaam, tussenvoegsel, voornamen), geboortedatum en geboorteplaats"
        return base + (" en BSN" if self.directory.bsn_enabled else "")

    @property
    def bsn_sentence(self) -> str:
        if self.directory.bsn_enabled:
            return ("Het netwerk heeft BSN-matching aangezet (ondertekend adresboek): een BSN "
                    "wordt met de elfproef gecontroleerd en net als de andere gegevens alleen "
                    "als tag bewaard.")
        return ("Het BSN wordt niet gebruikt: het netwerk heeft BSN-matching niet aangezet "
                "(ondertekend adresboek), en een check met een BSN wordt geweigerd.")

    @property
    def assess_first(self) -> bool:
        return self.config.contact_release == CONTACT_AFTER_ASSESSMENT

    def retention_rows(self) -> list[tuple[str, str, str, str]]:
        """(gegevens, bewaartermijn, instelling, hoe het verdwijnt) for every stored kind."""
        c = self.config
        rows = [
            ("Identificerende gegevens (dat-gegevens) van gecheckte personen en uit de "
             "export van het casussysteem",
             "alleen in het werkgeheugen, tijdens de check of import; in de webapp ten "
             "hoogste 15 minuten (resultaatpagina, wachtende upload)",
             "—", "nooit op schijf geschreven"),
            ("Registratie van een actieve casus: casusnummer, fase, procesregisseur en de "
             "tags van deze node",
             f"tot afschaling, 'niet in behandeling genomen', een export (sync) die de "
             f"casus niet meer noemt, of {_days(c.max_inactive_days)} zonder nieuwe gegevens",
             "`[retention] max_inactive_days`", "direct verwijderd; de sweeper controleert "
             f"{_every(c.sweep_interval_seconds)}, en vanaf de termijn telt de casus "
             "niet meer mee"),
            ("Casus die deze node zelf registreerde (aanmelding), bij een sync-import die de "
             "casus (nog) niet noemt; tags die een check toevoegde",
             f"{_days(c.check_registration_grace_days)} na registratie blijft de casus staan; "
             f"tags uit een check ouder dan {_days(c.check_registration_grace_days)} vervangt "
             "de volgende import door die uit de export",
             "`[retention] check_registration_grace_days`", "verwijderd bij de import"),
            ("Open samenloopmelding (bij de houdende node)", "tot het einde van de casus",
             "—", "verwijderd met de casus"),
            ("Afgehandelde samenloopmelding",
             f"{_days(c.melding_retention_days)} na afhandeling, of eerder met de casus",
             "`[retention] melding_retention_days`", "verwijderd door de sweeper"),
            ("Audittrail van deze node (zonder identificerende gegevens)",
             _days(c.audit_retention_days), "`[retention] audit_retention_days`",
             "opgeschoond door de sweeper; de keten begint dan bij een ondertekend "
             "controlepunt"),
            ("Beëindigde casussen (casusnummer, registratie, einde, reden; zonder "
             "identificerende gegevens)",
             f"{_days(c.audit_retention_days)}; het casusdossier in het casussysteem moet "
             f"volgens het convenant binnen {_days(c.destroy_after_end_days)} na het einde "
             "vernietigd zijn (gemeld op de auditpagina, niet door deze software uitgevoerd)",
             "`[retention] audit_retention_days`, `[retention] destroy_after_end_days`",
             "verwijderd door de sweeper"),
            ("Fasen die een casus doorliep (casusnummer, fase, eerste keer gezien; zonder "
             "identificerende gegevens)", "geen termijn: de software verwijdert deze nog niet",
             "—", "nog niet"),
            ("Gebruikte query-id's (tegen herhaling)",
             f"{_seconds(2 * c.replay_window_seconds)}, alleen in het werkgeheugen",
             "`replay_window_seconds`", "nooit op schijf geschreven"),
        ]
        if c.web is not None:
            rows.append(("Sessies van de webapp",
                         f"{c.web.session_idle_minutes} minuten zonder gebruik, ten hoogste "
                         f"{c.web.session_max_hours} uur",
                         "`[web] session_idle_minutes`, `[web] session_max_hours`",
                         "verwijderd"))
        return rows

    def retention_table(self) -> str:
        return _table(("Gegevens", "Bewaartermijn", "Instelling", "Verwijdering"),
                      self.retention_rows())

    def rights_procedure(self) -> list[str]:
        """The rights procedure of the product, one Markdown paragraph each."""
        return [
            f"**Eén loket (WGS).** Een verzoek kan bij {self.zvh} worden gedaan en geldt voor "
            f"alle gezamenlijk verwerkingsverantwoordelijken: "
            f"{_join(self.members)}. De privacyfunctionaris van {self.zvh} behandelt het en "
            "antwoordt binnen een maand (AVG art. 12 lid 3).",
            "**Inzage.** De privacyfunctionaris voert de gegevens van de persoon één keer in. "
            "De node zoekt in het eigen register en vraagt elke andere node via dezelfde "
            "verzegelde, opgevulde route als een check (de coördinator ziet het verschil "
            "niet). Elke node zegt of hij de persoon kent en geeft zijn privacycontact; hij "
            "maakt geen samenloopmelding maar een melding voor zijn eigen privacyfunctionaris, "
            "met de datum waarop hij moet antwoorden. Het overzicht noemt casussen, meldingen "
            "en checks zonder identificerende gegevens, en zegt welke ZVH's bereikt zijn.",
            "**Rectificatie.** De gegevens komen uit het casussysteem. Wordt een gegeven daar "
            "verbeterd, dan maakt de volgende import de tags opnieuw; een verkeerd gegeven "
            "geeft hooguit geen of een onterechte samenloop, die de procesregisseurs samen "
            "nagaan.",
            "**Wissing van één persoon.** De registraties van de persoon in een casus bij "
            "deze node worden verwijderd; de casus zelf blijft bestaan.",
            "**Bezwaar.** Wordt een bezwaar toegewezen, dan worden de registraties van de "
            "persoon bij deze node verwijderd en houdt een blokkade imports en checks tegen "
            "die de persoon opnieuw zouden registreren, tot de privacyfunctionaris de "
            "blokkade opheft. De blokkade bevat alleen de tags van deze node: geen naam, "
            "geboortedatum, geboorteplaats of BSN, en niets waarmee een andere node de "
            "persoon herkent. Geldt het bezwaar ook bij andere ZVH's (één loket), dan geeft de "
            "privacyfunctionaris het door: elke ZVH verwijdert en blokkeert in zijn eigen "
            "node, omdat de tags van de ene node bij een andere niets betekenen.",
            "**Verantwoording.** Elk verzoek komt in de audittrail (soort, wie, wanneer, "
            "aantallen, dekking) met een uiterste antwoorddatum; de privacypagina toont open "
            "verzoeken en verzoeken over tijd.",
        ]


# ---------------------------------------------------------------- verwerkingsregister


def _register(f: _Facts) -> str:
    c = f.config
    purposes = "\n".join(f"  - {_text(p)}" for p in c.purposes)
    recipients = "\n".join(f"- {name}" for name in f.members)
    contact = ("alleen na beoordeling door de eigen procesregisseur (`[policy] "
               "contact_release = \"na_beoordeling\"`): het antwoord noemt dan alleen het ZVH "
               "en de sterkte" if f.assess_first else
               "direct bij een treffer (`[policy] contact_release = \"direct\"`), behalve "
               "voor casussen die in de export 'beoordeling vooraf' vragen")
    measures = "\n".join(f"- {m}" for m in _measures(f))
    return f"""# Verwerkingsregister (AVG art. 30): samenloopcheck van {f.zvh}

{f.source}

## Verwerkingsverantwoordelijke

- **Verwerkingsverantwoordelijke:** {f.zvh} (node `{c.node_id}`).
- **Gezamenlijk verwerkingsverantwoordelijken** (AVG art. 26, de Zorg- en Veiligheidshuizen
  in het netwerk `{_text(f.directory.network)}`): {_join(f.members)}.
- **Verwerker:** de beheerder van het netwerk (coördinator en ondertekend adresboek). De
  coördinator ziet geen identificerende gegevens en geen tags; er is een
  verwerkersovereenkomst nodig (convenant: verwerkers onder een schriftelijke overeenkomst).
- **Eén loket (WGS):** een verzoek van een betrokkene bij {f.zvh} geldt voor alle
  gezamenlijk verwerkingsverantwoordelijken.

## Doeleinden

- Hit/no-hit: nagaan of een persoon uit een eigen casus in aanmelding of triage al in een
  **actieve** casus bij het eigen Zorg- en Veiligheidshuis (bij aanmelding) of bij een ander
  Zorg- en Veiligheidshuis (vanaf triage) bekend is, en zo ja welke procesregisseur de
  vrager kan benaderen. Geen casusinhoud, geen verrijking.
- Elke check noemt een doelcategorie (`[policy] purposes`); deze node kent:
{purposes}
- Een houdende node meldt zijn eigen procesregisseur dat een ander ZVH een persoon uit diens
  casus heeft gecheckt (samenloopmelding), zodat de procesregisseurs contact kunnen opnemen.

## Categorieën betrokkenen

- Personen in een actieve casus van een van de aangesloten Zorg- en Veiligheidshuizen
  (cliënten, ook gezinsleden die in de casus zijn opgenomen).
- Personen die een procesregisseur voor een eigen casus checkt (ten hoogste
  {c.max_subjects_per_check} per check).
- Medewerkers: procesregisseurs (contactgegevens) en gebruikers van de webapp
  (accounts, audittrail).

## Categorieën persoonsgegevens

- **Dat-gegevens:** {f.identifiers}. Deze worden nooit opgeslagen: de node bewaart
  alleen tags per node (gepseudonimiseerd, alleen bruikbaar bij deze node).
- {f.bsn_sentence}
- Casusgegevens: casusnummer, fase, procesregisseur, datum van de laatste nieuwe gegevens,
  wel of geen beoordeling vooraf.
- Contactgegevens van procesregisseurs: naam, telefoon, e-mail.
- Samenloopmelding: eigen casus, vragend ZVH, naam, telefoon en e-mail van de vragende
  procesregisseur, doelcategorie, sterkte van de overeenkomst, tijden, afhandeling.
- Audittrail: wie wat wanneer deed, zonder namen, geboortedata, geboorteplaatsen, BSN of
  tags.
- Casusinhoud (leefgebieden, plan van aanpak, rapporten) komt niet in het systeem. Let op:
  al het gegeven dat iemand een casus heeft bij een Zorg- en Veiligheidshuis is gevoelig
  (het kan wijzen op zorg- of strafrechtelijke betrokkenheid); weeg dit mee in de DPIA.

## Ontvangers

Bij een treffer krijgt het vragende Zorg- en Veiligheidshuis het ZVH, de sterkte en de
contactgegevens van de procesregisseur. Deze node geeft die contactgegevens {contact}.
Mogelijke ontvangers zijn de Zorg- en Veiligheidshuizen in het adresboek:

{recipients}

De software stuurt gegevens alleen naar de nodes in het ondertekende adresboek, via de
coördinator, die de inhoud niet kan lezen.

## Bewaartermijnen

{f.retention_table()}

## Beveiligingsmaatregelen

{measures}

## Rechten van betrokkenen

{chr(10).join(f"- {p}" for p in f.rights_procedure())}
"""


def _measures(f: _Facts) -> list[str]:
    c = f.config
    measures = [
        "Elke verbinding tussen nodes en coördinator is wederzijds TLS met de CA van het "
        "netwerk; elke kant controleert de identiteit van de andere (node-id of "
        "coördinator). Alleen de coördinator mag een node bevragen.",
        "Pseudonimisering met een VOPRF (RFC 9497, ristretto255-SHA512): de node verblindt "
        "de invoer, de coördinator rekent blind met de geheime sleutel, en de node "
        "controleert elk bewijs tegen de publieke sleutel in het adresboek. Een node heeft de "
        "sleutel niet en kan dus niet zelf pseudonimiseren.",
        "Tags per node (HMAC-SHA256 over het pseudoniem met de node-id): een node bewaart "
        "alleen zijn eigen tags, zodat de registers van twee nodes niet te koppelen zijn.",
        "Verzegelen en opvullen: elke vraag en elk antwoord tussen nodes is versleuteld "
        "(NaCl crypto_box) met de sleutels uit het adresboek en opgevuld tot een vaste "
        "grootte; treffer en geen treffer zijn even groot en het antwoord vertrekt op een "
        "vast tijdrooster, dus de coördinator ziet het verschil niet.",
        "Het adresboek (nodes, adressen, sleutels, BSN-besluit) is ondertekend met de "
        "Ed25519-sleutel van de netwerkbeheerder; elke node controleert die handtekening en "
        "weigert een ouder serienummer.",
        f"Bescherming tegen herhaling: een vraag waarvan het tijdstip meer dan "
        f"{_seconds(c.replay_window_seconds)} van de klok afwijkt, of met een al geziene "
        "query-id, wordt geweigerd.",
        "Audittrail als hashketen met een ankerbestand en ondertekende controlepunten na "
        "opschonen: een gewijzigd, verwijderd of afgeknipt record wordt gevonden "
        "(`samenloop node audit verify`, auditpagina). Een check wordt vastgelegd voordat er "
        "iets de node verlaat.",
        f"Doelbinding: een check kan alleen voor een bestaande eigen casus in aanmelding of "
        f"triage, door de procesregisseur of een benoemde vervanger, met een doelcategorie; "
        f"een toelichting met identificerende gegevens wordt geweigerd. Ten hoogste "
        f"{c.max_subjects_per_check} personen per check, {c.checks_per_user_per_hour} "
        f"checks per gebruiker per uur en {c.checks_per_user_per_day} per dag; de "
        "coördinator begrenst en registreert het aantal checks en evaluaties per node.",
        "Bij aanmelding zoekt een check alleen in het eigen register; andere ZVH's pas vanaf "
        "triage. Een casus in aanmelding is nooit een treffer voor een ander ZVH.",
        "Identificerende gegevens alleen in het werkgeheugen; nooit in logbestanden, "
        "metrics, audit, foutmeldingen of tijdelijke bestanden. Sleutelbestanden met "
        "rechten 0600.",
    ]
    if c.web is not None:
        measures.append(
            f"Webapp: rollen (procesregisseur, beheerder, auditor), sessies van ten hoogste "
            f"{c.web.session_idle_minutes} minuten zonder gebruik en {c.web.session_max_hours} "
            f"uur in totaal, blokkade na {c.web.login_max_failures} mislukte inlogpogingen "
            f"voor {c.web.login_lockout_minutes} minuten, CSRF-bescherming, geen "
            "identificerende gegevens in adressen (URL's) of caches.")
    return measures


# ---------------------------------------------------------------- informatietekst


def _information(f: _Facts) -> str:
    c = f.config
    others = ("de andere Zorg- en Veiligheidshuizen die meedoen: " + _join(f.others)
              if f.others else "geen andere Zorg- en Veiligheidshuizen: alleen wij doen mee")
    bsn = ("Soms gebruiken we ook uw burgerservicenummer (BSN)." if f.directory.bsn_enabled
           else "Uw burgerservicenummer (BSN) gebruiken we hiervoor niet.")
    return f"""# Informatie voor u: de samenloopcheck van {f.zvh}

<!-- {f.source} -->

## Wat doen wij?

{f.zvh} helpt mensen met problemen op meerdere gebieden. Vaak werken daarbij
verschillende organisaties samen. Wij willen weten of andere professionals u al helpen.
Dan kunnen we samenwerken en hoeft u uw verhaal niet steeds opnieuw te vertellen.

## Wat is een samenloopcheck?

Met een samenloopcheck kijken we of u al bekend bent bij ons of bij een ander Zorg- en
Veiligheidshuis. We krijgen alleen "ja" of "nee" als antwoord. Bij "ja" horen we ook wie
daar uw procesregisseur is. Zo kunnen we contact opnemen. We zien niet waarom u daar
bekend bent. Wat er in uw dossier staat, gaat niet mee.

## Welke gegevens gebruiken we?

We gebruiken uw naam, uw geboortedatum en uw geboorteplaats. {bsn}
We bewaren deze gegevens niet zelf in het systeem. Het systeem maakt er een code van. Met
die code kan niemand uw naam terugvinden.

## Met wie?

We kijken bij {others}.
Alleen als u daar bekend bent, horen zij dat wij hebben gekeken. Ze krijgen dan de naam,
het telefoonnummer en het e-mailadres van uw procesregisseur bij ons.
Andersom werkt het ook. Kijkt een ander Zorg- en Veiligheidshuis of u bekend bent, en kent
u ons? Dan horen wij dat.

## Hoe lang bewaren we dit?

- Zolang wij u helpen, staat de code in het systeem. Komen er
  {_plain(c.max_inactive_days)} geen nieuwe gegevens over u bij? Dan halen we de code weg.
- Stoppen we eerder met helpen? Dan halen we de code meteen weg.
- Een bericht dat een ander Zorg- en Veiligheidshuis u heeft gecheckt, bewaren we
  {_plain(c.melding_retention_days)} nadat het is afgehandeld.
- We houden bij wie er heeft gekeken en wanneer. Dat bewaren we {_plain(c.audit_retention_days)}.
  Daarin staan geen naam en geen geboortedatum.

## Uw rechten

- U mag vragen welke gegevens wij over u hebben (inzage).
- U mag vragen om een fout te verbeteren (rectificatie).
- U mag vragen om uw gegevens te wissen (wissing).
- U mag bezwaar maken tegen de check (bezwaar). Krijgt u gelijk? Dan halen we uw code bij
  ons weg. We zetten u dan ook niet opnieuw in het systeem. Daarvoor bewaren we alleen een
  code die past bij ons eigen systeem. Uw naam bewaren we niet.

U hoeft maar op één plek te vragen: bij {f.zvh}. Uw vraag geldt dan voor alle Zorg- en
Veiligheidshuizen die meedoen. U krijgt binnen een maand antwoord.

Bent u het niet eens met ons antwoord? Dan kunt u een klacht indienen bij de Autoriteit
Persoonsgegevens.

## Contact

{_privacy_contact(f)}
"""


def _privacy_contact(f: _Facts) -> str:
    """The node's [privacy] contact from node.toml, or a marked gap to fill in."""
    contact = f.config.privacy_contact
    if contact is None:
        return (f"{f.zvh}, de privacyfunctionaris. [in te vullen: zet [privacy] name, phone "
                f"en email in node.toml]")
    return (f"{f.zvh}, {_text(contact.name)}, telefoon {_text(contact.phone)}, e-mail "
            f"{_text(contact.email)}.")


# ---------------------------------------------------------------- DPIA input


def _dpia(f: _Facts) -> str:
    c = f.config
    d = f.directory
    epochs = ", ".join(str(e) for e in sorted(d.oprf_keys))
    sees = _table(
        ('partij', 'ziet', 'ziet niet'),
        [
            (
                f'vragend ZVH ({f.zvh} als vrager)',
                'de dat-gegevens tijdens de check (werkgeheugen); per persoon treffer of niet, '
                'ZVH, sterkte, contact van de procesregisseur; de dekking',
                "casusinhoud, casusnummers of fase bij andere ZVH's, waarom iemand bekend is",
            ),
            (
                'houdend ZVH',
                'dat een ZVH een persoon uit een eigen casus checkte, met de vrager en de '
                'doelcategorie (samenloopmelding)',
                'de dat-gegevens (alleen tags), de toelichting bij de check, checks zonder '
                'treffer bij hem',
            ),
            (
                "andere ZVH's",
                'dat er een vraag binnenkwam',
                'wie er gecheckt werd, of er ergens een treffer was',
            ),
            (
                'coördinator (netwerkbeheer)',
                'welke node wanneer vraagt, hoeveel elementen een evaluatie heeft, of een check'
                ' volgde (aanmelding of later), de grootteklasse (aantal personen), status en '
                'responstijd van elke node',
                'dat-gegevens of tags (verblind en verzegeld), treffer of geen treffer (vaste '
                'grootte, tijdrooster), de inhoud van antwoorden',
            ),
            (
                'netwerkaanvaller',
                'dat er TLS-verkeer is',
                'inhoud; hij kan niets invoegen (wederzijds TLS)',
            ),
        ])
    threats = _table(
        ('actor', 'kan', 'kan niet'),
        [
            (
                'coördinator (eerlijk maar nieuwsgierig)',
                'zien wie wanneer vraagt en hoe vaak; aantallen en grootteklassen',
                'identificerende gegevens of tags zien; treffer van geen treffer onderscheiden;'
                ' antwoorden vervalsen; een sleutel van een node verwisselen (ondertekend '
                'adresboek); een node een andere OPRF-sleutel geven (VOPRF-bewijs)',
            ),
            (
                'een node',
                'geraden identiteiten testen via de coördinator',
                'dat offline doen (geen OPRF-sleutel) of zonder begrenzing en registratie bij '
                'de coördinator; zijn register koppelen aan dat van een andere node (tags per '
                'node); een vraag herhalen',
            ),
            (
                'netwerkaanvaller',
                'TLS-verkeer zien',
                'iets lezen of invoegen (wederzijds TLS met de CA van het netwerk)',
            ),
            (
                'procesregisseur',
                'personen van een eigen of vervangen casus checken in aanmelding (eigen ZVH) of'
                ' triage',
                'checken zonder eigen casus en doel; identificerende gegevens in de toelichting'
                f' zetten; meer dan {c.max_subjects_per_check} personen per check of meer dan '
                f'{c.checks_per_user_per_hour} per uur / {c.checks_per_user_per_day} per dag; '
                'casusinhoud zien',
            ),
            (
                'beheerder van de node (CLI)',
                'checks, casussen, gebruikers en vervangers beheren; contactgegevens van een '
                'procesregisseur toevoegen of wijzigen (de enige wijziging zonder auditrecord)',
                'checks, casusacties, imports of gebruikerswijzigingen doen zonder auditrecord;'
                ' het afknippen van de audittrail verbergen',
            ),
            (
                '**coördinator samen met één node**',
                '**zolang één partij de OPRF-sleutel heeft: pseudoniemen met een woordenboek '
                'aanvallen, dus nagaan of een geraden persoon bij die node geregistreerd is. '
                'Dit is de resterende zwakte.**',
                '— (opgelost zodra de sleutel over onafhankelijke sleutelhouders is verdeeld)',
            ),
        ])
    keys = _table(
        ('sleutel', 'houder', 'waarvoor'),
        [
            (
                f'OPRF-sleutel (`skS`), epoch {epochs}; huidig epoch {d.current_epoch}',
                'de coördinator (netwerkbeheer), bestanden met rechten 0600',
                'blind evalueren van matchsleutels',
            ),
            (
                'ondertekeningssleutel van het adresboek (Ed25519)',
                'de netwerkbeheerder',
                'adresboek: nodes, sleutels, BSN-besluit',
            ),
            (
                'CA van het netwerk',
                'de netwerkbeheerder',
                'TLS-certificaten van nodes en coördinator',
            ),
            (
                f'crypto_box-sleutel van `{c.node_id}` (en daaruit afgeleid de sleutel van de '
                'controlepunten in de audittrail)',
                f'{f.zvh}',
                'vragen en antwoorden openen en verzegelen',
            ),
            (
                f'TLS-sleutel van `{c.node_id}`',
                f'{f.zvh}',
                'wederzijds TLS',
            ),
        ])
    members = "\n".join(f"| `{n.node_id}` | {_text(n.display_name)} | `{_text(n.endpoint)}` |"
                        for n in d.nodes)
    return f"""# DPIA-input: samenloopcheck van {f.zvh}

{f.source}

## Het netwerk

| node | Zorg- en Veiligheidshuis | adres |
|---|---|---|
{members}

{len(d.nodes)} Zorg- en Veiligheidshuizen; deze node is `{c.node_id}` ({f.zvh}).
{f.bsn_sentence}

## Gegevensstroom van een check

1. Een procesregisseur van {f.zvh} checkt de personen (ten hoogste
   {c.max_subjects_per_check}) van een eigen casus in aanmelding of triage, met een
   doelcategorie: {_join([_text(p) for p in c.purposes], quoted=True)}. De check wordt
   eerst vastgelegd in de audittrail.
2. De node maakt uit {f.identifiers} matchsleutels, verblindt ze en laat de coördinator
   ze blind evalueren (VOPRF); het bewijs wordt gecontroleerd tegen de publieke sleutel in
   het adresboek.
3. Uit elk pseudoniem maakt de node een tag per node. Bij **aanmelding** alleen voor
   zichzelf: alleen het eigen register wordt doorzocht, er gaat niets naar andere nodes.
4. Vanaf **triage** verzegelt de node per node een vraag (alleen de tags van die node,
   de contactgegevens van de vrager, de doelcategorie), opgevuld tot een vaste grootte. De
   coördinator stuurt de vragen door naar alle {len(d.nodes)} nodes.
5. Elke node opent zijn vraag, zoekt zijn tags op in zijn actieve casussen en stuurt een
   verzegeld antwoord van vaste grootte terug: per treffer de sterkte, het ZVH en de
   procesregisseur (of alleen ZVH en sterkte bij beoordeling vooraf). Daarna maakt hij bij
   een treffer een samenloopmelding voor zijn eigen procesregisseur.
6. De vragende node toont het resultaat met de dekking ("gecontroleerd bij N van
   {len(d.nodes)} Zorg- en Veiligheidshuizen"); een node die niet antwoordde is nooit
   "geen treffer". De eigen tags van de gecheckte personen worden in de casus geregistreerd.

Bij een import uit het casussysteem doorloopt de node stap 2 en 3 voor de eigen casussen
en bewaart alleen de eigen tags.

## Wat elke partij ziet en niet ziet

{sees}

## Dreigingsmodel

{threats}

## Sleutelhouders

{keys}

Vandaag heeft één partij, de coördinator, de OPRF-sleutel. **Gepland:** de sleutel wordt
met Shamir-delen (t van n) verdeeld over onafhankelijke sleutelhouders, die elk hun
deel-evaluatie bewijzen tegen een publieke deelsleutel in het adresboek. De uitkomst is
dezelfde, dus bestaande tags blijven geldig; daarna kan geen enkele partij, ook niet de
coördinator met één node, zelf pseudoniemen berekenen.

## Bewaartermijnen

{f.retention_table()}

## Procedure voor de rechten van betrokkenen

{chr(10).join(f"- {p}" for p in f.rights_procedure())}
"""


# ---------------------------------------------------------------- formatting


def _text(value: str) -> str:
    """A value from config or directory, safe inside Markdown text and table cells."""
    return (" ".join(value.split()).replace("|", "\\|").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _join(items: list[str], quoted: bool = False) -> str:
    items = [f"“{i}”" for i in items] if quoted else items
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " en " + items[-1]


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _days(days: int) -> str:
    """Exact, with a rounder figure for the reader: '183 dagen (ongeveer 6 maanden)'."""
    exact = f"{days} dag" if days == 1 else f"{days} dagen"
    about = _about(days)
    return f"{exact} ({about})" if about else exact


def _plain(days: int) -> str:
    """For the B1 text: the rounder figure first, '6 maanden (183 dagen)'."""
    about = _about(days).removeprefix("ongeveer ")
    exact = f"{days} dag" if days == 1 else f"{days} dagen"
    return f"{about} ({exact})" if about else exact


def _about(days: int) -> str:
    if days >= 365:
        years = days / 365.25
        whole = round(years)
        if abs(years - whole) < 0.05:
            return f"ongeveer {whole} jaar"
        return f"ongeveer {years:.1f} jaar".replace(".", ",")
    if days >= 56:
        return f"ongeveer {round(days / 30.44)} maanden"
    return ""


def _every(seconds: int) -> str:
    return "elk uur" if seconds == 3600 else f"elke {_seconds(seconds)}"


def _seconds(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "uur" if hours == 1 else f"{hours} uur"
    if seconds % 60 == 0:
        return f"{seconds // 60} minuten"
    return f"{seconds} seconden"

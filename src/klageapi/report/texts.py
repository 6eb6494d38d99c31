"""The report's words in Bokmål (the default), Nynorsk and English, and how each language writes
numbers, shares and dates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["COUNTIES", "LANGUAGES", "NONE", "POLICIES", "Words", "words"]

NONE = "\u2013"
"""An en dash, for a figure there is nothing to compute from."""

LANGUAGES = ("nb", "nn", "en")

COUNTIES = {
    "03": "Oslo",
    "11": "Rogaland",
    "15": "Møre og Romsdal",
    "18": "Nordland",
    "31": "Østfold",
    "32": "Akershus",
    "33": "Buskerud",
    "34": "Innlandet",
    "39": "Vestfold",
    "40": "Telemark",
    "42": "Agder",
    "46": "Vestland",
    "50": "Trøndelag",
    "55": "Troms",
    "56": "Finnmark",
}
"""County names by the first two digits of the municipality number (the counties of 2024)."""

POLICIES = ("forwarded", "citizen_wait", "urgent_then_citizen_wait")
"""The queue orders the report has names for; another order is shown by its own name."""

_NB: dict[str, str] = {
    "title": "Ventetid for klager på økonomisk sosialhjelp",
    "period": "Klager avgjort fra {start} til {end}. Åpne klager og køer er talt {as_of}.",
    "scope": "Tallene gjelder klagene som den som hentet rapporten, har tilgang til.",
    "how_to_read": (
        "Median: halvparten ventet kortere. p90: ni av ti ventet kortere. n: antall klager"
        " tallet bygger på. Alle tider er kalenderdager."
    ),
    "languages": "Språk",
    "summary": "Hovedtall",
    "whole_wait": "Hele ventetiden",
    "whole_wait_about": "fra NAV mottok klagen til Statsforvalteren fattet vedtak",
    "official": "Offisiell måling",
    "official_about": "fra Statsforvalteren mottok saken til vedtak, som målet på 90 % innen"
    " 90 dager regnes etter",
    "within_90": "Avgjort innen 90 dager",
    "within_90_about": "andel av de avgjorte, regnet etter den offisielle målingen (målet er 90 %)",
    "open_now": "Åpne klager nå",
    "open_about": "ikke avgjort, trukket eller avsluttet hos NAV; alder regnet fra NAV mottok"
    " klagen",
    "past_90": "Hos Statsforvalteren over 90 dager",
    "past_90_about": "andel av klagene som ligger hos Statsforvalteren, som har ventet der i mer"
    " enn 90 dager",
    "median": "median",
    "p90": "p90",
    "p99": "p99",
    "mean": "snitt",
    "oldest": "eldste",
    "days": "dager",
    "n": "n",
    "no_decisions": "Ingen klager ble avgjort i perioden. Her er det ingen ventetid å måle.",
    "no_decisions_short": "ingen avgjort",
    "no_open": "Ingen åpne klager nå.",
    "no_open_short": "ingen åpne",
    "none_at_statsforvalter": "ingen hos Statsforvalteren",
    "view_statsforvalter_office": "Per statsforvalterembete",
    "view_nav_office": "Per NAV-kontor",
    "view_county": "Per fylke",
    "group_statsforvalter_office": "Statsforvalterembete",
    "group_nav_office": "NAV-kontor",
    "group_county": "Fylke",
    "chart_waits": "Ventetid: hele ventetiden og den offisielle målingen",
    "chart_waits_about": "Den mørke delen av søylen går til medianen, den lyse videre til p90."
    " Den svarte streken står på 90 dager.",
    "chart_stages": "Hvor ventetiden går",
    "chart_stages_about": "Søylen er like lang som den gjennomsnittlige hele ventetiden. Hver"
    " fase får den delen av ventetiden den faktisk tok: dagene i fasen summert over de"
    " avgjorte klagene, delt på summen av hele ventetiden.",
    "largest": "størst",
    "chart_open": "Åpne klager og hvor lenge de har ventet",
    "chart_open_about": "Søylen går til medianen og videre til p90 av alderen; streken viser"
    " den eldste.",
    "open_count": "{count}\u00a0åpne",
    "at_statsforvalter": "{count} hos Statsforvalteren, {share} av dem over 90 dager",
    "trend": "Måned for måned",
    "trend_about": "Klager avgjort i hver måned. Median og p90 for hele ventetiden og den"
    " offisielle målingen.",
    "month": "Måned",
    "queues": "Køene hos Statsforvalteren",
    "queues_about": "Ut fra mottatte og avgjorte saker per uke de siste {weeks} ukene."
    " Belastning: mottatt delt på avgjort (1 eller mer: køen vokser). Press: to ganger"
    " gjennomsnittlig ventetid delt på målet på 90 dager (over 1: målet nås trolig ikke)."
    " Målkø: køen som gir en gjennomsnittlig ventetid på en firedel av målet. Nødvendig"
    " kapasitet: avgjørelser per uke som får køen ned til målkøen på et halvt år.",
    "no_queues": "Ingen køer å vise.",
    "arrivals": "Mottatt per uke",
    "decisions": "Avgjort per uke",
    "queue": "I kø nå",
    "load": "Belastning",
    "pressure": "Press",
    "target_queue": "Målkø",
    "relief": "Nødvendig kapasitet per uke",
    "comparison": "Hva en annen rekkefølge i køen ville gjort",
    "comparison_about": "Et simulert år med {appeals} klager (seed {seed}), spilt én gang for"
    " hver rekkefølge: de samme klagene, det samme arbeidet. Gjennomsnittet er nesten det"
    " samme for alle rekkefølger; det rekkefølgen flytter, er hvem som venter lenge.",
    "policy": "Rekkefølge",
    "policy_forwarded": "Etter Statsforvalterens mottak (slik det er i dag)",
    "policy_citizen_wait": "Den som har ventet lengst totalt, først",
    "policy_urgent_then_citizen_wait": "Hastesaker først, deretter den som har ventet lengst",
    "max": "lengste",
    "open_past_90": "Hos Statsforvalteren over 90 dager ved årets slutt",
    "chart_comparison": "Hele ventetiden med hver rekkefølge",
    "chart_comparison_about": "Søylen går til medianen, videre til p90 og helt ut til p99.",
    "chart_comparison_official": "Avgjort innen 90 dager med hver rekkefølge",
    "target_line": "målet, 90 %",
    "line_90_days": "90 dager",
    "decided": "Avgjort",
    "received": "Mottatt",
    "table": "Tabell",
    "download": "Last ned tabellen som CSV",
    "sources": "Kilder og definisjoner",
    "sources_text": "Tallene kommer fra klageapi sin statistikk (GET /v1/statistics/"
    "processing-times), regnet i databasen fra når hvert steg i klagen skjedde. Målet om 90 %"
    " innen 90 dager er Helsetilsynets krav til statsforvalterne. Køformlene er fra Fong mfl."
    " (2022).",
    "group_none": "(ukjent)",
    "part_month": "(del av måneden)",
}

_NN: dict[str, str] = {
    **_NB,
    "title": "Ventetid for klager på økonomisk sosialhjelp",
    "period": "Klager avgjorde frå {start} til {end}. Opne klager og køar er talde {as_of}.",
    "scope": "Tala gjeld klagene som den som henta rapporten, har tilgang til.",
    "how_to_read": (
        "Median: halvparten venta kortare. p90: ni av ti venta kortare. n: talet på klager som"
        " talet byggjer på. Alle tider er kalenderdagar."
    ),
    "languages": "Språk",
    "summary": "Hovudtal",
    "whole_wait": "Heile ventetida",
    "whole_wait_about": "frå NAV tok imot klagen til Statsforvaltaren gjorde vedtak",
    "official": "Offisiell måling",
    "official_about": "frå Statsforvaltaren tok imot saka til vedtak, som målet på 90 % innan"
    " 90 dagar blir rekna etter",
    "within_90": "Avgjort innan 90 dagar",
    "within_90_about": "del av dei avgjorde, rekna etter den offisielle målinga (målet er 90 %)",
    "open_now": "Opne klager no",
    "open_about": "ikkje avgjorde, trekte eller avslutta hos NAV; alder rekna frå NAV tok imot"
    " klagen",
    "past_90": "Hos Statsforvaltaren over 90 dagar",
    "past_90_about": "del av klagene som ligg hos Statsforvaltaren, som har venta der i meir"
    " enn 90 dagar",
    "mean": "snitt",
    "oldest": "eldste",
    "days": "dagar",
    "no_decisions": "Ingen klager vart avgjorde i perioden. Her er det inga ventetid å måle.",
    "no_decisions_short": "ingen avgjorde",
    "no_open": "Ingen opne klager no.",
    "no_open_short": "ingen opne",
    "none_at_statsforvalter": "ingen hos Statsforvaltaren",
    "view_statsforvalter_office": "Per statsforvaltarembete",
    "view_nav_office": "Per NAV-kontor",
    "view_county": "Per fylke",
    "group_statsforvalter_office": "Statsforvaltarembete",
    "group_nav_office": "NAV-kontor",
    "group_county": "Fylke",
    "chart_waits": "Ventetid: heile ventetida og den offisielle målinga",
    "chart_waits_about": "Den mørke delen av søyla går til medianen, den lyse vidare til p90."
    " Den svarte streken står på 90 dagar.",
    "chart_stages": "Kvar ventetida går",
    "chart_stages_about": "Søyla er like lang som den gjennomsnittlege heile ventetida. Kvar"
    " fase får den delen av ventetida han faktisk tok: dagane i fasen summerte over dei"
    " avgjorde klagene, delt på summen av heile ventetida.",
    "largest": "størst",
    "chart_open": "Opne klager og kor lenge dei har venta",
    "chart_open_about": "Søyla går til medianen og vidare til p90 av alderen; streken viser den"
    " eldste.",
    "open_count": "{count}\u00a0opne",
    "at_statsforvalter": "{count} hos Statsforvaltaren, {share} av dei over 90 dagar",
    "trend": "Månad for månad",
    "trend_about": "Klager avgjorde i kvar månad. Median og p90 for heile ventetida og den"
    " offisielle målinga.",
    "month": "Månad",
    "queues": "Køane hos Statsforvaltaren",
    "queues_about": "Ut frå mottekne og avgjorde saker per veke dei siste {weeks} vekene."
    " Belastning: motteke delt på avgjort (1 eller meir: køen veks). Press: to gonger"
    " gjennomsnittleg ventetid delt på målet på 90 dagar (over 1: målet blir truleg ikkje"
    " nådd). Målkø: køen som gir ei gjennomsnittleg ventetid på ein firedel av målet."
    " Naudsynt kapasitet: avgjerder per veke som får køen ned til målkøen på eit halvt år.",
    "no_queues": "Ingen køar å vise.",
    "arrivals": "Motteke per veke",
    "decisions": "Avgjort per veke",
    "queue": "I kø no",
    "load": "Belastning",
    "pressure": "Press",
    "target_queue": "Målkø",
    "relief": "Naudsynt kapasitet per veke",
    "comparison": "Kva ei anna rekkjefølgje i køen ville gjort",
    "comparison_about": "Eit simulert år med {appeals} klager (seed {seed}), spela éin gong for"
    " kvar rekkjefølgje: dei same klagene, det same arbeidet. Gjennomsnittet er nesten det"
    " same for alle rekkjefølgjer; det rekkjefølgja flyttar, er kven som ventar lenge.",
    "policy": "Rekkjefølgje",
    "policy_forwarded": "Etter når Statsforvaltaren tok imot saka (slik det er i dag)",
    "policy_citizen_wait": "Den som har venta lengst totalt, først",
    "policy_urgent_then_citizen_wait": "Hastesaker først, deretter den som har venta lengst",
    "max": "lengste",
    "open_past_90": "Hos Statsforvaltaren over 90 dagar ved slutten av året",
    "chart_comparison": "Heile ventetida med kvar rekkjefølgje",
    "chart_comparison_about": "Søyla går til medianen, vidare til p90 og heilt ut til p99.",
    "chart_comparison_official": "Avgjort innan 90 dagar med kvar rekkjefølgje",
    "target_line": "målet, 90 %",
    "line_90_days": "90 dagar",
    "decided": "Avgjort",
    "received": "Motteke",
    "table": "Tabell",
    "download": "Last ned tabellen som CSV",
    "sources": "Kjelder og definisjonar",
    "sources_text": "Tala kjem frå statistikken i klageapi (GET /v1/statistics/"
    "processing-times), rekna i databasen frå når kvart steg i klagen skjedde. Målet om 90 %"
    " innan 90 dagar er kravet Helsetilsynet stiller til statsforvaltarane. Køformlane er frå"
    " Fong mfl. (2022).",
    "group_none": "(ukjend)",
    "part_month": "(del av månaden)",
}

_EN: dict[str, str] = {
    "title": "Waiting times for appeals on economic social assistance",
    "period": "Appeals decided from {start} to {end}. Open appeals and queues counted {as_of}.",
    "scope": "The figures cover the appeals that whoever fetched the report may see.",
    "how_to_read": (
        "Median: half waited less. p90: nine in ten waited less. n: how many appeals the figure"
        " rests on. All times are calendar days."
    ),
    "languages": "Language",
    "summary": "Key figures",
    "whole_wait": "The whole wait",
    "whole_wait_about": "from NAV's receipt of the appeal to the Statsforvalter's decision",
    "official": "The official measure",
    "official_about": "from the Statsforvalter's receipt to its decision, the measure of the"
    " target of 90 % within 90 days",
    "within_90": "Decided within 90 days",
    "within_90_about": "share of the decided appeals, by the official measure (the target is 90 %)",
    "open_now": "Open appeals now",
    "open_about": "not decided, withdrawn or closed by NAV; age counted from NAV's receipt",
    "past_90": "At the Statsforvalter for over 90 days",
    "past_90_about": "share of the appeals at the Statsforvalter that have waited there for"
    " more than 90 days",
    "median": "median",
    "p90": "p90",
    "p99": "p99",
    "mean": "mean",
    "oldest": "oldest",
    "days": "days",
    "n": "n",
    "no_decisions": "No appeals were decided in the period: there is no wait to measure.",
    "no_decisions_short": "none decided",
    "no_open": "No open appeals now.",
    "no_open_short": "none open",
    "none_at_statsforvalter": "none at the Statsforvalter",
    "view_statsforvalter_office": "By Statsforvalter office",
    "view_nav_office": "By NAV office",
    "view_county": "By county",
    "group_statsforvalter_office": "Statsforvalter office",
    "group_nav_office": "NAV office",
    "group_county": "County",
    "chart_waits": "Waiting: the whole wait and the official measure",
    "chart_waits_about": "The dark part of a bar runs to the median, the light part on to the"
    " p90. The black line stands at 90 days.",
    "chart_stages": "Where the wait goes",
    "chart_stages_about": "A bar is as long as the mean whole wait. Each stage gets the part of"
    " the wait it really took: its days summed over the decided appeals, over the whole waits"
    " summed.",
    "largest": "largest",
    "chart_open": "Open appeals and how long they have waited",
    "chart_open_about": "A bar runs to the median age and on to the p90; the tick marks the"
    " oldest.",
    "open_count": "{count}\u00a0open",
    "at_statsforvalter": "{count} at the Statsforvalter, {share} of them over 90 days",
    "trend": "Month by month",
    "trend_about": "Appeals decided in each month: median and p90 of the whole wait and of"
    " the official measure.",
    "month": "Month",
    "queues": "The queues at the Statsforvalter",
    "queues_about": "From the cases received and decided per week over the last {weeks}"
    " weeks. Load: received over decided (1 or more: the queue grows). Pressure: twice the"
    " mean wait over the target of 90 days (above 1: the target will likely be missed)."
    " Target queue: the queue whose mean wait is a quarter of the target. Relief capacity:"
    " decisions a week that bring the queue down to the target queue in half a year.",
    "no_queues": "No queues to show.",
    "arrivals": "Received a week",
    "decisions": "Decided a week",
    "queue": "Queue now",
    "load": "Load",
    "pressure": "Pressure",
    "target_queue": "Target queue",
    "relief": "Relief capacity a week",
    "comparison": "What another queue order would do",
    "comparison_about": "A simulated year of {appeals} appeals (seed {seed}), played once under"
    " each order: the same appeals, the same work. The mean hardly moves between orders; what"
    " an order moves is who waits long.",
    "policy": "Order",
    "policy_forwarded": "By the Statsforvalter's receipt (today's order)",
    "policy_citizen_wait": "Longest whole wait first",
    "policy_urgent_then_citizen_wait": "Urgent first, then the longest wait",
    "max": "longest",
    "open_past_90": "At the Statsforvalter over 90 days at year end",
    "chart_comparison": "The whole wait under each order",
    "chart_comparison_about": "A bar runs to the median, on to the p90 and out to the p99.",
    "chart_comparison_official": "Decided within 90 days under each order",
    "target_line": "the target, 90 %",
    "line_90_days": "90 days",
    "decided": "Decided",
    "received": "Received",
    "table": "Table",
    "download": "Download the table as CSV",
    "sources": "Sources and definitions",
    "sources_text": "The figures come from klageapi's statistics (GET /v1/statistics/"
    "processing-times), computed in the database from when each step of an appeal happened."
    " The target of 90 % within 90 days is the Norwegian Board of Health Supervision's"
    " requirement of the Statsforvalter offices. The queue formulas are from Fong et al."
    " (2022).",
    "group_none": "(unknown)",
    "part_month": "(part of the month)",
}

_STAGES = {
    "nb": {
        "nav": "Hos NAV (forberedende klagebehandling)",
        "transfer": "Oversending",
        "waiting_at_statsforvalter": "Venter hos Statsforvalteren",
        "waiting_for_documentation": "Venter på dokumentasjon",
        "statsforvalter_work": "Saksbehandling hos Statsforvalteren",
    },
    "nn": {
        "nav": "Hos NAV (førebuande klagehandsaming)",
        "transfer": "Oversending",
        "waiting_at_statsforvalter": "Ventar hos Statsforvaltaren",
        "waiting_for_documentation": "Ventar på dokumentasjon",
        "statsforvalter_work": "Sakshandsaming hos Statsforvaltaren",
    },
    "en": {
        "nav": "At NAV (preparatory review)",
        "transfer": "Transfer",
        "waiting_at_statsforvalter": "Waiting at the Statsforvalter",
        "waiting_for_documentation": "Waiting for documentation",
        "statsforvalter_work": "The Statsforvalter's work",
    },
}

_MONTHS = {
    "nb": "januar februar mars april mai juni juli august september oktober november desember",
    "nn": "januar februar mars april mai juni juli august september oktober november desember",
    "en": "January February March April May June July August September October November December",
}


@dataclass(frozen=True)
class Words:
    """One language's words and its way of writing numbers."""

    language: str
    texts: dict[str, str]
    stages: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.texts[key]

    def number(self, value: float, decimals: int = 1) -> str:
        """1 234,5 in Norwegian (a narrow no-break space between thousands), 1,234.5 in
        English."""
        written = f"{value:,.{decimals}f}"
        if self.language == "en":
            return written
        return written.replace(",", "\u202f").replace(".", ",")

    def count(self, value: int) -> str:
        return self.number(value, 0)

    def days(self, value: float | None) -> str:
        return NONE if value is None else f"{self.number(value)}\u00a0{self['days']}"

    def share(self, value: float | None) -> str:
        """85 % in Norwegian (with a no-break space, as Norwegian writes it), 85% in English."""
        if value is None:
            return NONE
        percent = self.number(value * 100, 0)
        return f"{percent}%" if self.language == "en" else f"{percent}\u00a0%"

    def n(self, value: int) -> str:
        return f"{self['n']}\u00a0=\u00a0{self.count(value)}"

    def date(self, day: dt.date) -> str:
        month = _MONTHS[self.language].split()[day.month - 1]
        if self.language == "en":
            return f"{day.day} {month} {day.year}"
        return f"{day.day}. {month} {day.year}"

    def month(self, day: dt.date) -> str:
        month = _MONTHS[self.language].split()[day.month - 1]
        return f"{month} {day.year}"

    def policy(self, name: str) -> str:
        return self.texts.get(f"policy_{name}", name)


def words(language: str) -> Words:
    """The words of nb, nn or en."""
    texts = {"nb": _NB, "nn": _NN, "en": _EN}[language]
    return Words(language=language, texts=texts, stages=_STAGES[language])

"""The yearly evaluation (issue 13.4): the caisse opens it and the gestionnaires are told,
they answer (saved, taken up, sent), the nightly rules remind them, and the bilan puts the
answers next to the year's figures, the statistics page's own."""

import csv
import email
import io
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from email import policy
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ep import accounts, db, evaluations, nir, notices
from ep.accounts import accept_cgu
from ep.housekeeping import purge_convention
from ep.models import (
    AuditEvent,
    Caisse,
    Convention,
    ConventionOffer,
    Evaluation,
    EvaluationItem,
    EvaluationQuestion,
    Notice,
    Offer,
    Partner,
)
from ep.rules import RuleError

from . import test_statistics
from .conftest import account, free_port
from .test_notices import demo_app, start_smtp
from .test_statistics import YEAR

known = test_statistics.known  # the known set of requests (a fixture)

EP = str(Path(sys.executable).with_name("ep"))
TODAY = date.today()


def partner(name):
    return Partner.get(Partner.name == name)


def read(response):
    """The page as a reader sees it (entities such as ' read back)."""
    return unescape(response.get_data(as_text=True))


def text_of(content):
    """The text of an e-mail as the SMTP server received it (its body may be encoded)."""
    message = email.message_from_string(content, policy=policy.default)
    return message["Subject"] + "\n" + message.get_body(("plain",)).get_content()


def open_voisin(due=None, today=None):
    evaluation, _ = evaluations.open_evaluation(
        account("caisse.demo"),
        partner("CCAS Voisin"),
        TODAY.year,
        due or TODAY + timedelta(days=20),
        today or TODAY,
    )
    return evaluation


def full_answers(evaluation, text="Rien à signaler."):
    """{item id: value}: every offer rated 4, every text answered."""
    return {
        item.id: 4 if item.kind == "rating" else text
        for question in evaluations.questionnaire(evaluation)
        for item in question.items
    }


def form_of(evaluation, rating="4", text="Rien à signaler.", action="envoyer"):
    data = {"action": action}
    for question in evaluations.questionnaire(evaluation):
        for item in question.items:
            data[item.field] = rating if item.kind == "rating" else text
    return data


def structure(name, siret, caisse_names, start=date(2024, 1, 1)):
    """A structure conventioned with these caisses since `start`, every offer active, with
    an active gestionnaire."""
    from ep.models import Account

    new = Partner.create(name=name, siret=siret, headcount=8)
    for caisse_name in caisse_names:
        caisse = Caisse.get(Caisse.name == caisse_name)
        convention = Convention.create(
            partner=new, caisse=caisse, signed_on=start, starts_on=start,
        )  # fmt: skip
        for offer in caisse.catalogue_offers():  # the caisse's own catalogue (issue 12.3)
            ConventionOffer.create(convention=convention, offer=offer)
    Account.create(
        username=f"gestionnaire.{siret}", profile="gestionnaire", partner=new, state="active",
        email=f"gestionnaire.{siret}@example.org",
    )  # fmt: skip
    return new


# Opening


def test_opening_tells_the_gestionnaires_by_e_mail(tmp_path):
    """Through the page, as a caisse agent would; the e-mail leaves through a real SMTP
    server with the link to the questionnaire."""
    port = free_port()
    app = demo_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{port}")
    client = app.test_client()
    with app.app_context():
        agent = account("caisse.demo")
        accept_cgu(agent, app.config["EP_CGU_VERSION"])
        voisin = partner("CCAS Voisin").id
    with client.session_transaction() as session:
        session["_user_id"] = agent.get_id()
    page = client.get(f"/evaluations/nouvelle/{voisin}")
    html = read(page)
    assert page.status_code == 200
    assert "Les difficultés rencontrées dans l'année" in html  # the questions to be asked
    due = TODAY + timedelta(days=21)
    response = client.post(
        f"/evaluations/nouvelle/{voisin}", data={"year": str(TODAY.year), "due_on": due}
    )
    assert response.status_code == 303
    with app.app_context():
        evaluation = Evaluation.get(Evaluation.partner == voisin)
        assert response.headers["Location"].endswith(f"/evaluations/{evaluation.id}")
        assert (evaluation.year, evaluation.due_on, evaluation.status) == (TODAY.year, due, "open")
        items = list(evaluation.items.order_by(EvaluationItem.id))
        # Voisin's convention has every offer: a rating each, then the three texts
        assert [i.kind for i in items] == ["rating"] * 5 + ["text"] * 3
        cpam = Caisse.get(Caisse.name == "CPAM de Démo")
        assert [i.offer_label for i in items[:5]] == [o.label for o in cpam.catalogue_offers()]
        event = AuditEvent.get(
            (AuditEvent.action == "evaluation_opened") & (AuditEvent.partner == voisin)
        )
        assert (event.partner_id, event.caisse_id, event.actor_id) == (
            voisin,
            agent.caisse_id,
            agent.id,
        )
        controller, inbox = start_smtp(port)
        try:
            assert notices.send_due() == (1, 0)
        finally:
            controller.stop()
    [(recipients, content)] = inbox.messages
    assert recipients == ["gestionnaire.voisin@example.org"]
    text = text_of(content)
    assert f"https://ep.example.org/espace/evaluations/{evaluation.id}/reponses" in text
    assert f"CPAM de Démo ouvre l'évaluation {TODAY.year}" in text
    assert f"avant le {due:%d/%m/%Y}" in text


@pytest.mark.parametrize(
    "who, year, due_days, message",
    [
        ("CCAS de Démo", TODAY.year, 20, f"L'évaluation {TODAY.year} de cette structure est déjà"),
        ("CCAS Voisin", TODAY.year - 1, 20, "Choisissez l'année en cours ou la précédente"),
        ("CCAS Voisin", TODAY.year - 2, 20, "Choisissez l'année en cours ou la précédente"),
        ("CCAS Voisin", TODAY.year, 0, "Choisissez une date à venir."),
        ("CCAS Voisin", TODAY.year, 400, "Choisissez une date dans l'année qui vient."),
    ],
)
def test_an_opening_that_breaks_a_rule_is_refused_by_its_field(
    app, client, login_as, who, year, due_days, message
):
    """One evaluation per caisse, structure and year (the demo opened CCAS de Démo's); a
    year of the convention (Voisin's started this year); a date to come, within a year."""
    login_as("caisse.demo")
    before = Evaluation.select().count()
    response = client.post(
        f"/evaluations/nouvelle/{partner(who).id}",
        data={"year": str(year), "due_on": (TODAY + timedelta(days=due_days)).isoformat()},
    )
    assert response.status_code == 200
    html = read(response)
    assert message in html and "field--error" in html
    assert Evaluation.select().count() == before


def test_one_evaluation_per_caisse_structure_and_year(app):
    ccas = partner("CCAS de Démo")
    mine, _ = evaluations.open_evaluation(
        account("carsat.demo"), ccas, TODAY.year, TODAY + timedelta(days=9)
    )
    assert mine.caisse_id == account("carsat.demo").caisse_id  # CPAM's exists: CARSAT has its own
    with pytest.raises(RuleError, match="déjà ouverte"):
        evaluations.open_evaluation(
            account("carsat.demo"), ccas, TODAY.year, TODAY + timedelta(days=9)
        )


def test_no_evaluation_without_a_convention_in_force_an_open_channel_or_a_question(app):
    agent = account("caisse.demo")
    voisin = partner("CCAS Voisin")
    due = TODAY + timedelta(days=20)
    Convention.update(cut_off_at=datetime.now()).where(Convention.partner == voisin).execute()
    with pytest.raises(RuleError, match="coupé"):
        evaluations.open_evaluation(agent, voisin, TODAY.year, due)
    Convention.update(cut_off_at=None, ends_on=TODAY).where(Convention.partner == voisin).execute()
    with pytest.raises(RuleError, match="pas en vigueur"):
        evaluations.open_evaluation(agent, voisin, TODAY.year, due)
    Convention.update(ends_on=None).where(Convention.partner == voisin).execute()
    EvaluationQuestion.update(active=False).execute()
    with pytest.raises(RuleError, match="aucune question"):
        evaluations.open_evaluation(agent, voisin, TODAY.year, due)
    assert not Evaluation.select().where(Evaluation.partner == voisin).exists()


def test_another_caisse_cannot_open_one_for_a_structure_out_of_its_scope(app, client, login_as):
    login_as("carsat.demo")  # Voisin has no convention with the CARSAT
    voisin = partner("CCAS Voisin").id
    assert client.get(f"/evaluations/nouvelle/{voisin}").status_code == 404
    response = client.post(f"/evaluations/nouvelle/{voisin}", data={"year": str(TODAY.year)})
    assert response.status_code == 404


# Answering


def test_answers_are_saved_taken_up_then_sent_once(app, client, login_as):
    evaluation = open_voisin()
    url = f"/evaluations/{evaluation.id}/reponses"
    login_as("gestionnaire.voisin")
    page = read(client.get(url))
    # each offer's rating: radio buttons in a fieldset with its legend, and "sans objet"
    assert page.count('<fieldset class="field field--choices') == 5
    assert "<legend>Contacter votre organisme d'assurance maladie" in page
    assert 'name="q1_contact" type="radio" value="0"' in page and "Sans objet" in page
    assert page.count("<textarea") == 3

    draft = {
        "q1_contact": "5",
        "q1_document": "0",
        "q2": "Des délais longs.",
        "action": "enregistrer",
    }
    response = client.post(url, data=draft)
    assert response.status_code == 303 and response.headers["Location"].endswith(url)
    stored = {i.id: i for i in Evaluation.get_by_id(evaluation.id).items}
    by_field = {
        item.field: stored[item.id]
        for q in evaluations.questionnaire(evaluation)
        for item in q.items
    }
    assert by_field["q1_contact"].rating == 5 and by_field["q1_document"].rating == 0
    assert (
        by_field["q1_signalement"].rating is None and by_field["q2"].answer == "Des délais longs."
    )
    assert Evaluation.get_by_id(evaluation.id).status == "open"

    page = read(client.get(url))  # taken up again: as it was left
    assert 'checked id="q1_contact-4" name="q1_contact" type="radio" value="5"' in page
    assert "Des délais longs.</textarea>" in page

    # sent with offers unrated: refused by their fields, nothing changes
    response = client.post(url, data={**draft, "q2": "Autre chose", "action": "envoyer"})
    assert response.status_code == 200
    html = read(response)
    assert "Donnez une note à chaque offre" in html
    assert html.count('class="error-message" id="q1_') == 3  # the three offers unrated
    assert Evaluation.get_by_id(evaluation.id).status == "open"
    assert EvaluationItem.get_by_id(by_field["q2"].id).answer == "Des délais longs."
    assert (
        client.get(f"/evaluations/{evaluation.id}")
        .get_data(as_text=True)
        .count("Des délais longs.")
        == 0
    )  # a draft is not in the bilan

    login_as("caisse.demo")
    assert "Des délais longs." not in client.get(f"/evaluations/{evaluation.id}").get_data(
        as_text=True
    )  # the caisse reads nothing before it is sent

    login_as("gestionnaire.voisin")
    response = client.post(url, data=form_of(evaluation, text="Tout va bien."))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/evaluations/{evaluation.id}")
    sent = Evaluation.get_by_id(evaluation.id)
    assert sent.status == "submitted" and sent.submitted_by_id == account("gestionnaire.voisin").id
    event = AuditEvent.get(
        (AuditEvent.action == "evaluation_submitted") & (AuditEvent.partner == sent.partner_id)
    )
    assert (event.partner_id, event.caisse_id) == (sent.partner_id, sent.caisse_id)
    told = Notice.get(
        (Notice.recipient == "caisse.demo@example.org") & (Notice.partner == sent.partner_id)
    )
    assert "CCAS Voisin a répondu" in told.subject and told.template == "evaluation"

    again = client.post(url, data=form_of(evaluation, text="Changé après coup."))
    assert again.status_code == 303  # to the bilan: sent answers no longer change
    assert not EvaluationItem.select().where(EvaluationItem.answer == "Changé après coup.").exists()
    with pytest.raises(RuleError, match="déjà été envoyées"):
        evaluations.save_answers(account("gestionnaire.voisin"), sent, full_answers(sent))

    login_as("caisse.demo")
    bilan = read(client.get(f"/evaluations/{evaluation.id}"))
    assert "Tout va bien." in bilan and "4 – satisfait" in bilan


def test_a_nir_in_an_answer_is_refused_and_nothing_is_stored(app, client, login_as):
    evaluation = open_voisin()
    login_as("gestionnaire.voisin")
    data = form_of(evaluation, action="enregistrer")
    data["q3"] = "Le dossier 1 85 05 78 006 084 91 pose problème."
    response = client.post(f"/evaluations/{evaluation.id}/reponses", data=data)
    assert response.status_code == 200
    assert nir.REFUSED in read(response)
    assert Evaluation.get_by_id(evaluation.id).saved_at is None
    assert not evaluation.items.where(EvaluationItem.answer != "").exists()


def test_only_the_structure_s_gestionnaires_answer(app):
    evaluation = open_voisin()
    for who in ("gestionnaire.demo", "technicien.voisin", "caisse.demo"):
        with pytest.raises(RuleError, match="Seuls les gestionnaires"):
            evaluations.save_answers(account(who), evaluation, full_answers(evaluation))


# The caisse's questionnaire


def test_editing_the_questionnaire_changes_the_next_evaluations_only(app, client, login_as):
    """The questions are copied into an evaluation when it opens: editing or withdrawing one
    later changes neither the evaluation being answered nor its bilan."""
    evaluation = open_voisin()
    evaluations.save_answers(account("gestionnaire.voisin"), evaluation, full_answers(evaluation))
    login_as("caisse.demo")
    asked = evaluations.questions(account("caisse.demo").caisse_id)
    difficulties, training = asked[1], asked[3]
    page = read(client.get(f"/evaluations/questionnaire/{difficulties.id}"))
    assert "Les difficultés rencontrées dans l'année" in page
    response = client.post(
        f"/evaluations/questionnaire/{difficulties.id}",
        data={"text": "Les obstacles de l'année", "kind": "text", "hint": "", "active": "y"},
    )
    assert response.status_code == 303
    response = client.post(
        f"/evaluations/questionnaire/{training.id}",
        data={"text": training.text, "kind": "text", "hint": ""},  # unticked: withdrawn
    )
    assert response.status_code == 303
    response = client.post(
        "/evaluations/questionnaire",
        data={"text": "Votre satisfaction sur l'accueil téléphonique", "kind": "rating"},
    )
    assert response.status_code == 303
    listing = read(client.get("/evaluations/questionnaire"))
    assert "Les obstacles de l'année" in listing and "Retirée" in listing
    actions = [
        e.action
        for e in AuditEvent.select().where(AuditEvent.action.startswith("evaluation_question"))
    ]
    assert sorted(actions) == ["evaluation_question_added"] + ["evaluation_question_updated"] * 2

    kept = [q.text for q in evaluations.questionnaire(evaluation)]
    assert kept[1] == "Les difficultés rencontrées dans l'année" and len(kept) == 4
    evaluations.save_answers(
        account("gestionnaire.voisin"), evaluation, full_answers(evaluation), submit=True
    )
    bilan = read(client.get(f"/evaluations/{evaluation.id}"))
    assert "Les difficultés rencontrées dans l'année" in bilan
    assert "Les obstacles" not in bilan and "accueil téléphonique" not in bilan

    other = structure("CCAS Nouveau", "26800002300014", ["CPAM de Démo"])
    later, _ = evaluations.open_evaluation(
        account("caisse.demo"), other, TODAY.year, TODAY + timedelta(days=20)
    )
    texts = [q.text for q in evaluations.questionnaire(later)]
    assert texts == [
        "Votre satisfaction pour chaque offre de service activée",
        "Les obstacles de l'année",
        "Vos besoins pour l'année à venir",
        "Votre satisfaction sur l'accueil téléphonique",
    ]
    assert [len(q.items) for q in evaluations.questionnaire(later)] == [5, 1, 1, 5]


def test_a_question_must_say_something(app, client, login_as):
    login_as("caisse.demo")
    for data, message in (
        ({"text": "  ", "kind": "text"}, "Écrivez la question."),
        ({"text": "Une question", "kind": "sondage"}, "Type de réponse : "),
        ({"text": "x" * 301, "kind": "text"}, "Question : "),
    ):
        html = read(client.post("/evaluations/questionnaire", data=data))
        assert message in html and "field--error" in html, data
    assert EvaluationQuestion.select().count() == 8  # the two demo caisses' defaults
    login_as("carsat.demo")  # CPAM's question: not the CARSAT's to see
    question = evaluations.questions(account("caisse.demo").caisse_id)[0]
    assert client.get(f"/evaluations/questionnaire/{question.id}").status_code == 404
    response = client.post(
        f"/evaluations/questionnaire/{question.id}", data={"text": "Pirate", "kind": "text"}
    )
    assert response.status_code == 404
    assert EvaluationQuestion.get_by_id(question.id).text != "Pirate"


def test_a_new_caisse_starts_with_the_default_questionnaire(app):
    agent = accounts.create_caisse_agent(
        "CPAM Nouvelle", "agent.nouveau", "agent@example.org", "une phrase de passe robuste"
    )
    assert [q.text for q in evaluations.questions(agent.caisse_id)] == [
        text for _, text, _ in evaluations.DEFAULT_QUESTIONS
    ]


# Who sees what


def test_another_caisse_or_structure_never_sees_an_evaluation(app, client, login_as):
    """CCAS de Démo is conventioned with the CARSAT too: its evaluation by the CPAM stays
    the CPAM's."""
    cpam = Evaluation.get(Evaluation.year == TODAY.year)  # the demo's, CCAS de Démo × CPAM
    for who, status in (
        ("carsat.demo", 404),
        ("gestionnaire.voisin", 404),
        ("technicien.demo", 403),
        ("caisse.demo", 200),
        ("gestionnaire.demo", 200),
    ):
        login_as(who)
        for url in (f"/evaluations/{cpam.id}", f"/evaluations/{cpam.id}/bilan.csv"):
            assert client.get(url).status_code == status, (who, url)
    login_as("carsat.demo")
    assert "CCAS de Démo" in read(client.get("/evaluations"))  # to open
    assert f"/evaluations/{cpam.id}" not in read(client.get("/evaluations"))
    login_as("gestionnaire.voisin")
    assert f"/evaluations/{cpam.id}" not in read(client.get("/evaluations"))
    assert client.get(f"/evaluations/{cpam.id}/reponses").status_code == 404


def test_the_caisse_s_list_says_who_answered_who_is_late_and_who_has_none(app, client, login_as):
    late = open_voisin(due=TODAY + timedelta(days=1))
    Evaluation.update(due_on=TODAY - timedelta(days=1)).where(Evaluation.id == late.id).execute()
    login_as("caisse.demo")
    html = read(client.get("/evaluations"))
    assert "En retard" in html and "À remplir" in html  # Voisin late, CCAS de Démo waiting
    assert "<strong>2</strong> en attente de réponse, dont <strong>1</strong> en retard" in html
    last = read(client.get(f"/evaluations?annee={TODAY.year - 1}"))
    assert "Répondue le" in last  # the demo's answered evaluation of last year
    assert "<strong>1</strong> structure sans évaluation ouverte" in last  # Voisin
    assert client.get("/evaluations?annee=abc").status_code == 200
    page = read(client.get(f"/partners/{partner('CCAS Voisin').id}"))
    assert f"Bilan {TODAY.year}" in page and "En retard" in page
    login_as("gestionnaire.demo")
    mine = read(client.get("/evaluations"))
    assert mine.count("Bilan<span") == 2 and "Répondre<span" in mine


# The bilan


class Tables(HTMLParser):
    """Each table of a page by its caption: its rows as lists of cell texts."""

    def __init__(self, html):
        super().__init__()
        self.tables, self._caption, self._cell, self._row = {}, None, None, None
        self._rows = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._rows, self._caption = [], ""
        elif tag == "caption":
            self._cell = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "caption":
            self._caption = " ".join("".join(self._cell).split())
            self._cell = None
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._rows is not None:
            self._rows.append(self._row)
        elif tag == "table":
            self.tables[self._caption] = self._rows
            self._rows = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


SHARED_TABLES = {
    "Demandes envoyées par mois",
    "Demandes par offre et motif",
    "Demandes par statut",
    "Délais des demandes envoyées sur la période (en temps calendaire)",
    "Comptes aujourd'hui, au regard des quotas",
    "Inactivations sur la période, par motif",
    "Revues des habilitations",
}


def summary_of(html):
    start = html.index('<ul class="stats">')
    return html[start : html.index("</ul>", start)]


def test_the_bilan_shows_the_statistics_page_s_figures_for_the_same_scope_and_year(
    app, known, client, login_as
):
    """On the known set of tests/test_statistics.py: the bilan of 2025 between the CPAM and
    the structure shows, table by table, what the statistics page shows for them and 2025,
    on either side; its CSV holds the same numbers and the answers."""
    chiffree = Partner.get_by_id(known["partner"])
    for code in ("etude_dossier", "rendez_vous"):  # the offers of its convention with the CPAM
        ConventionOffer.create(
            convention=known["conventions"]["CPAM de Démo"],
            offer=Offer.get(Offer.code == code),
        )
    evaluation, _ = evaluations.open_evaluation(
        account("caisse.demo"), chiffree, YEAR, TODAY + timedelta(days=15)
    )
    answers = full_answers(evaluation, text="=1+1 n'est pas une formule")
    evaluations.save_answers(account("gestionnaire.chiffres"), evaluation, answers, submit=True)
    period = f"du={YEAR}-01-01&au={YEAR}-12-31"
    for who, which in (("caisse.demo", known["partner"]), ("gestionnaire.chiffres", known["cpam"])):
        login_as(who)
        stats = read(client.get(f"/statistiques?{period}&which={which}"))
        bilan = read(client.get(f"/evaluations/{evaluation.id}"))
        expected, shown = Tables(stats).tables, Tables(bilan).tables
        assert SHARED_TABLES <= set(shown) and SHARED_TABLES <= set(expected)
        for caption in SHARED_TABLES:
            assert shown[caption] == expected[caption], caption
        assert summary_of(bilan) == summary_of(stats)
        assert "<strong>5</strong> demandes envoyées" in bilan  # the known set: 5 to the CPAM
        assert "25,0 h" in bilan and "9,0 j" in bilan
        assert shown["Demandes envoyées par mois"][1] == ["janvier 2025", "3"]

    response = client.get(f"/evaluations/{evaluation.id}/bilan.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode()) and b"\r\n" in body
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["partie", "rubrique", "detail", "valeur"]
    cells = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
    assert cells[("evaluation", "annee", "")] == str(YEAR)
    assert cells[("chiffres", "demandes envoyees", "")] == "5"
    assert cells[("chiffres", "demandes cloturees", "")] == "3"
    assert cells[("chiffres", "demandes par mois", f"{YEAR}-01")] == "3"
    assert cells[("chiffres", "delai de premiere reponse", "mediane (h)")] == "25,0"
    assert cells[("chiffres", "delai de cloture", "9 sur 10 en moins de (j)")] == "9,0"
    assert cells[("chiffres", "revues terminees en retard", "")] == "1"
    ratings = [r for r in rows if r[0] == "reponses" and r[2]]
    assert [(r[2], r[3]) for r in ratings] == [
        ("Demander un rendez-vous pour un assuré", "4 – satisfait"),
        ("Soumettre une demande d'étude de dossier", "4 – satisfait"),
    ]
    texts = [r[3] for r in rows if r[0] == "reponses" and not r[2]]
    assert texts == ["'=1+1 n'est pas une formule"] * 3  # a formula never runs


def test_a_purge_leaves_the_bilan_as_it_was(app, known, client, login_as):
    chiffree = Partner.get_by_id(known["partner"])
    evaluation, _ = evaluations.open_evaluation(
        account("caisse.demo"), chiffree, YEAR, TODAY + timedelta(days=15)
    )
    evaluations.save_answers(
        account("gestionnaire.chiffres"), evaluation, full_answers(evaluation), submit=True
    )
    login_as("caisse.demo")
    before = client.get(f"/evaluations/{evaluation.id}/bilan.csv").get_data()
    for convention_id in known["conventions"].values():
        purge_convention(Convention.get_by_id(convention_id), TODAY)
    assert client.get(f"/evaluations/{evaluation.id}/bilan.csv").get_data() == before


def test_the_bilan_prints_without_navigation(app, client, login_as):
    login_as("gestionnaire.demo")
    answered = Evaluation.get(Evaluation.year == TODAY.year - 1)  # the demo's
    html = read(client.get(f"/evaluations/{answered.id}"))
    assert 'media="print"' in html and "print.css" in html
    assert "Des délais de rendez-vous parfois longs à la rentrée." in html
    assert 'class="no-print actions"' in html  # the buttons and links stay on screen
    css = (Path(__file__).parent.parent / "ep" / "static" / "print.css").read_text()
    assert ".site-nav" in css and ".no-print" in css and ".bilan-question" in css


# Reminders


def housekeeping(app, today, port):
    db.database.close()
    env = {
        **os.environ,
        "EP_INSTANCE_PATH": app.instance_path,
        "EP_DATABASE_URL": app.config["EP_DATABASE_URL"],
        "EP_MAIL_URL": f"smtp://127.0.0.1:{port}",
    }
    result = subprocess.run(
        [EP, "housekeeping", "--today", today.isoformat()],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_reminders_before_the_date_and_once_overdue_each_sent_once(app):
    """`ep housekeeping --today`, e-mails through a real SMTP server. Voisin's evaluation is
    due in 20 days, the demo's (CCAS de Démo) in 30 and answered in time; one opened 3 days
    before its date gets no reminder before it (the opening e-mail said it all)."""
    voisin = open_voisin(due=TODAY + timedelta(days=20))
    short = structure("CCAS Pressé", "26800003100012", ["CPAM de Démo"])
    hurried, _ = evaluations.open_evaluation(
        account("caisse.demo"), short, TODAY.year, TODAY + timedelta(days=3)
    )
    demo_one = Evaluation.get(
        (Evaluation.year == TODAY.year) & (Evaluation.partner == partner("CCAS de Démo"))
    )
    with app.app_context():
        notices.flush()  # the opening e-mails
    port = free_port()
    controller, inbox = start_smtp(port)
    try:

        def run(day):
            out = housekeeping(app, TODAY + timedelta(days=day), port)
            sent = [(rcpt[0], text_of(content)) for rcpt, content in inbox.messages]
            inbox.messages.clear()
            return out, sent

        out, sent = run(1)  # the hurried one is 2 days from its date: opened too late
        assert "rappels d'évaluation (dont retards) : 0" in out and sent == []
        out, sent = run(4)  # its date has passed
        [(to, content)] = sent
        assert to == "gestionnaire.26800003100012@example.org" and "en retard" in content
        out, sent = run(12)  # 8 days before Voisin's date: nothing yet
        assert "rappels d'évaluation (dont retards) : 0" in out and sent == []
        out, sent = run(13)  # 7 days before
        assert "rappels d'évaluation (dont retards) : 1" in out
        [(to, content)] = sent
        assert to == "gestionnaire.voisin@example.org"
        assert "Rappel" in content and (TODAY + timedelta(days=20)).strftime("%d/%m/%Y") in content
        assert f"/evaluations/{voisin.id}/reponses" in content
        assert run(13)[1] == []  # once
        evaluations.save_answers(
            account("gestionnaire.demo"), demo_one, full_answers(demo_one), submit=True
        )
        with app.app_context():
            notices.flush()  # the caisse told of the answers
        inbox.messages.clear()
        out, sent = run(21)  # Voisin's date has passed
        assert "rappels d'évaluation (dont retards) : 1" in out
        [(to, content)] = sent
        assert to == "gestionnaire.voisin@example.org" and "en retard" in content
        out, sent = run(22)
        assert sent == [] and "rappels d'évaluation (dont retards) : 0" in out
        out, sent = run(40)  # the demo's was answered: neither reminded nor late
        assert sent == []
    finally:
        controller.stop()
    overdue = AuditEvent.select().where(AuditEvent.action == "evaluation_overdue")
    assert sorted(e.partner_id for e in overdue) == sorted([voisin.partner_id, short.id])
    assert Evaluation.get_by_id(hurried.id).reminded_at is not None  # passed over, not sent


def test_the_default_questionnaire_is_given_to_each_caisse_at_the_upgrade_to_schema_4(app):
    """A database with caisses and without the evaluation's tables, through the evaluation's
    step of schema 4: each caisse has the default questionnaire, nothing else moved. (The
    whole upgrade from version 1 is tests/test_db.py's.)"""
    from playhouse.migrate import migrate

    caisses = Caisse.select().count()
    sql = db.database.execute_sql
    for table in ("evaluation_item", "evaluation", "evaluation_question"):
        sql(f'DROP TABLE "{table}"')
    with db.write():
        db._v4_evaluation(db._migrator(), migrate)
    assert Caisse.select().count() == caisses == 2
    for caisse in Caisse.select():
        assert [q.text for q in evaluations.questions(caisse.id)] == [
            text for _, text, _ in evaluations.DEFAULT_QUESTIONS
        ]
    assert Evaluation.select().count() == 0

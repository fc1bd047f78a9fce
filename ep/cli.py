"""The `ep` command line (CONTRACT.md, "Command line")."""

import getpass
import os
import socket
import sys
from pathlib import Path

import click

from . import cli_fr
from .rules import RuleError
from .text import plural

cli_fr.install()


class DateTime(click.DateTime):
    """click.DateTime within the years the web forms accept, so that no date rule overflows
    on a typo (`--today 0001-01-01`)."""

    def convert(self, value, param, ctx):
        from .forms import FIRST_YEAR, LAST_YEAR

        converted = super().convert(value, param, ctx)
        if not FIRST_YEAR <= converted.year <= LAST_YEAR:
            self.fail(f"{value} : une date entre {FIRST_YEAR} et {LAST_YEAR}.", param, ctx)
        return converted


def _app():
    from . import create_app

    return create_app()


def _context(app):
    """The app's context for a command (no request is faked: links in e-mails come from
    EP_BASE_URL); the journal records "ligne de commande" as the origin."""
    from . import audit

    audit.ORIGIN.set("ligne de commande")
    return app.app_context()


def _send_notices():
    """Send the e-mails the command queued; say when some could not leave."""
    from . import db, notices

    with db.database.connection_context():
        notices.flush()
        waiting = notices.counts()
    if waiting["pending"] or waiting["failed"]:
        click.echo(
            f"Courriels en attente d'envoi : {waiting['pending']} ; en échec : "
            f"{waiting['failed']} (messagerie injoignable ? voir la page « Courriels » de la "
            "caisse).",
            err=True,
        )
    return waiting


@click.group(help="Espace Partenaires : administration en ligne de commande.")
def cli():
    pass


@cli.command("init", help="Crée la base de données ou la met à niveau (sans rien effacer).")
@click.option("--demo", is_flag=True, help="Ajoute aussi les données de démonstration.")
def init_cmd(demo):
    from . import db
    from . import demo as demo_data

    app = _app()
    with _context(app):
        before, after = db.upgrade()
        if before == 0:
            click.echo(f"Base créée (schéma {after}) : {app.config['EP_DATABASE_URL']}")
        elif before == after:
            click.echo(f"Base déjà à jour (schéma {after}).")
        else:
            click.echo(f"Base mise à niveau du schéma {before} au schéma {after}.")
        if demo:
            with db.database.connection_context():
                password, created = demo_data.load(app.config["EP_DEMO_PASSWORD"])
            if created:
                click.echo("Données de démonstration ajoutées. Comptes (mot de passe commun) :")
                for username, profile, org, *_ in demo_data.USERS:
                    click.echo(f"  {username:<22} {profile:<13} {org}")
                click.echo(f"Mot de passe : {password}")
            else:
                click.echo("Données de démonstration déjà présentes (mot de passe inchangé).")
        _send_notices()


@cli.command("serve", help="Sert l'application avec waitress.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=click.IntRange(1, 65535), show_default=True)
@click.option("--threads", default=8, type=click.IntRange(1, 64), show_default=True)
@click.option(
    "--connection-limit",
    type=click.IntRange(1, 10000),
    default=None,
    help="Connexions ouvertes au plus (défaut : EP_CONNECTION_LIMIT, 500).",
)
@click.option(
    "--channel-timeout",
    type=click.IntRange(1, 3600),
    default=None,
    help="Secondes avant de fermer une connexion inactive (défaut : EP_CHANNEL_TIMEOUT, 30).",
)
def serve_cmd(host, port, threads, connection_limit, channel_timeout):
    import waitress

    from . import db

    app = _app()
    if not app.config["EP_BASE_URL_SET"]:
        # Links in e-mails point to where this server listens, unless told otherwise.
        from . import set_base_url

        shown = socket.getfqdn() if host in ("0.0.0.0", "::", "") else host
        set_base_url(app, f"http://{shown}:{port}")
    with _context(app):
        db.upgrade()
    from . import housekeeping, notices

    housekeeping.start_daily(app)
    notices.start_sender(app)
    connection_limit = connection_limit or app.config["EP_CONNECTION_LIMIT"]
    channel_timeout = channel_timeout or app.config["EP_CHANNEL_TIMEOUT"]
    _enough_file_descriptors(connection_limit)
    click.echo(
        f"Espace Partenaires sur http://{host}:{port}/ (Ctrl+C pour arrêter) : "
        f"{connection_limit} connexions au plus, fermées après {channel_timeout} s "
        f"d'inactivité, {threads} fils."
    )
    # A client that connects and never finishes its request holds no thread (waitress hands
    # only complete requests to the threads) but holds a connection: the connection limit
    # is what slow clients exhaust, so it is high, and idle connections close soon.
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        connection_limit=connection_limit,
        channel_timeout=channel_timeout,
        # idle connections are looked for this often, so that they close on time
        cleanup_interval=max(1, min(30, channel_timeout // 3)),
        # poll() has no 1024-descriptor ceiling, unlike select()
        asyncore_use_poll=True,
        ident="ep",
    )


def _enough_file_descriptors(connection_limit):
    """Raise the soft limit of open files to what the connection limit may use, if allowed."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # a connection uses one descriptor, two while a large body is spooled to a file
    wanted = 2 * connection_limit + 100
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError):  # a system ceiling below the hard limit (macOS)
            new = soft
        if new < wanted:
            click.echo(
                f"ep : attention, {new} fichiers ouverts au plus (ulimit -n) : trop peu pour "
                f"{connection_limit} connexions ; relevez la limite ou baissez "
                "--connection-limit.",
                err=True,
            )


@cli.command("create-user", help="Crée un agent de caisse (et la caisse si besoin).")
@click.option("--role", type=click.Choice(["caisse"]), required=True)
@click.option("--caisse", "caisse_name", required=True)
@click.option("--username", required=True)
@click.option("--email", required=True)
def create_user_cmd(role, caisse_name, username, email):
    from email_validator import EmailNotValidError, validate_email

    from . import accounts, db

    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise click.ClickException(f"adresse e-mail invalide : {email}") from exc
    if sys.stdin.isatty():
        password = getpass.getpass("Mot de passe : ")
        if getpass.getpass("Confirmez le mot de passe : ") != password:
            raise click.ClickException("les deux mots de passe diffèrent.")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    app = _app()
    with _context(app):
        db.upgrade()
        with db.database.connection_context():
            account = accounts.create_caisse_agent(caisse_name, username, email, password)
        _send_notices()
    click.echo(f"Agent de caisse {account.username} créé pour {caisse_name}.")


@cli.command("housekeeping", help="Applique les règles datées (inactivations, suppressions…).")
@click.option(
    "--today",
    type=DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Agit comme à cette date (AAAA-MM-JJ).",
)
def housekeeping_cmd(today):
    from . import db, housekeeping

    app = _app()
    with _context(app):
        db.upgrade()
        with db.database.connection_context():
            counts = housekeeping.run(today.date() if today else None)
        waiting = _send_notices()
    click.echo(
        f"Inactivés (inutilisés) : {counts['idle']} ; prévenus avant inactivation : "
        f"{counts['idle_warned']} ; inactivations programmées : "
        f"{counts['scheduled']} ; fins de convention : {counts['convention_ended']} ; "
        f"supprimés : {counts['deleted']} ; demandes purgées (fin de convention) : "
        f"{counts['purged']} ; revues ouvertes : {counts['reviews_opened']} ; rappels de "
        f"revue (dont retards) : {counts['reviews_reminded']} ; pièces jointes abandonnées : "
        f"{counts['abandoned_uploads']} ; rappels d'évaluation (dont retards) : "
        f"{counts['evaluations_reminded']} ; demandes sans réponse prévenues : "
        f"{counts['waiting_warned']}, clôturées : {counts['auto_closed']} ; demandes purgées "
        f"(durée de conservation) : {counts['retention_purged']} ; traces de consultation "
        f"effacées du journal : {counts['journal_purged']} ; courriels en attente : "
        f"{waiting['pending']}, en échec : {waiting['failed']} ; écritures : "
        f"{counts['transactions']} transactions, la plus longue "
        f"{counts['longest_hold'] * 1000:.0f} ms."
    )
    if counts["failed"]:
        raise click.ClickException(
            "règles non appliquées (voir le journal du serveur) : " + ", ".join(counts["failed"])
        )


@cli.command("export-users", help="Exporte la liste des utilisateurs (même contenu que le web).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True
)
@click.option(
    "--caisse",
    "caisse_name",
    default=None,
    help="Seulement les partenaires conventionnés avec cette caisse.",
)
@click.option(
    "-o",
    "output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Fichier de sortie (par défaut : la sortie standard).",
)
def export_users_cmd(fmt, caisse_name, output):
    from . import csvexport, db, exports, xlsx
    from .models import Caisse, Partner

    app = _app()
    with _context(app), db.database.connection_context():
        if caisse_name:
            caisse = Caisse.get_or_none(Caisse.name == caisse_name)
            if caisse is None:
                raise click.ClickException(f"caisse inconnue : {caisse_name}")
            partner_ids = [p.id for p in Partner.for_caisse(caisse)]
        else:
            partner_ids = [p.id for p in Partner.select(Partner.id)]
        rows = exports.user_rows(partner_ids)
        if fmt == "xlsx":
            if not output and sys.stdout.isatty():
                raise click.ClickException("indiquez un fichier avec -o pour le format xlsx.")
            chunks = xlsx.stream(exports.USER_HEADER, rows, "Utilisateurs")
        else:
            chunks = csvexport.stream(exports.USER_HEADER, rows)
        out = open(output, "wb") if output else sys.stdout.buffer
        try:
            for chunk in chunks:
                out.write(chunk)
        finally:
            if output:
                out.close()
            else:
                out.flush()


@cli.command("maintenance", help="Annonce une maintenance à tous les utilisateurs (§3.2).")
@click.option(
    "--start",
    "start",
    type=DateTime(formats=["%Y-%m-%d %H:%M"]),
    help="Début, « AAAA-MM-JJ HH:MM ».",
)
@click.option(
    "--end",
    "end",
    type=DateTime(formats=["%Y-%m-%d %H:%M"]),
    help="Fin, « AAAA-MM-JJ HH:MM ».",
)
@click.option("--message", default="", help="Texte affiché (par défaut : dates et durée).")
@click.option("--clear", is_flag=True, help="Retire toutes les annonces à venir.")
def maintenance_cmd(start, end, message, clear):
    from . import db
    from .models import Announcement, now

    app = _app()
    with _context(app):
        db.upgrade()
        with db.database.connection_context():
            if clear:
                n = Announcement.delete().where(Announcement.ends_at > now()).execute()
                click.echo(f"{plural(n, 'annonce retirée')}.")
                return
            if not start or not end or end <= start:
                raise click.ClickException("indiquez --start et --end, la fin après le début.")
            text = message.strip() or (
                "Maintenance prévue du "
                f"{start.strftime('%d/%m/%Y à %H:%M')} au {end.strftime('%d/%m/%Y à %H:%M')} : "
                "l'Espace Partenaires sera indisponible pendant ce temps."
            )
            with db.write():
                Announcement.create(message=text, starts_at=start, ends_at=end)
            click.echo(f"Annonce enregistrée : {text}")


@cli.command("backup", help="Copie cohérente de la base, même pendant que le serveur tourne.")
@click.argument("target", type=click.Path(dir_okay=False, writable=True))
def backup_cmd(target):
    from . import db

    app = _app()
    if not db.is_sqlite():
        raise click.ClickException("avec PostgreSQL, utilisez pg_dump pour la sauvegarde.")
    path = Path(target)
    if path.exists():
        raise click.ClickException(f"le fichier {target} existe déjà ; choisissez un autre nom.")
    source = Path(app.config["EP_DATABASE_URL"][len("sqlite:///") :])
    if not source.exists() or source.stat().st_size == 0:  # created empty, never initialised
        raise click.ClickException("aucune base à sauvegarder : lancez d'abord « ep init ».")
    db.backup_sqlite(str(path))
    click.echo(f"Sauvegarde écrite dans {target}.")


@cli.command(
    "migrate-to",
    help="Copie la base actuelle dans une autre base, vide (par exemple PostgreSQL : "
    "postgresql://utilisateur:motdepasse@hôte:port/base). Arrêtez les serveurs avant.",
)
@click.argument("url")
def migrate_to_cmd(url):
    import peewee

    from . import dbcopy

    app = _app()
    source = app.config["EP_DATABASE_URL"]
    click.echo(f"Copie de {dbcopy.shown(source)} vers {dbcopy.shown(url)} :")
    try:
        with _context(app):
            dbcopy.copy(source, url, echo=click.echo)
    except peewee.ImproperlyConfigured as exc:
        raise click.ClickException(
            "pilote PostgreSQL absent : pip install 'espace-partenaires[postgresql]'."
            if "postgres" in str(exc).lower()
            else str(exc)
        ) from None
    except (peewee.PeeweeException, *_driver_errors()) as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise click.ClickException(f"copie impossible, base cible inchangée : {first}") from None
    click.echo(
        "Les pièces jointes ne sont pas dans la base : le dossier "
        f"{Path(app.config['EP_INSTANCE_PATH']) / 'uploads'} doit rester accessible aux "
        "serveurs qui utiliseront la nouvelle base (EP_INSTANCE_PATH)."
    )


def _driver_errors():
    """The database drivers' own errors (those peewee does not wrap, e.g. during COPY)."""
    import sqlite3

    try:
        import psycopg2
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg2.Error)


def main(argv=None):
    """Entry point: one-line messages on bad input, never a traceback."""
    if os.name == "posix":
        # This process writes personal data (database, uploads, backups, exports): nothing
        # it creates is readable by other accounts. Process-wide, and the process is ours.
        os.umask(0o077)
    try:
        cli.main(args=argv, prog_name="ep", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("ep : interrompu.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"ep : {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except RuleError as exc:
        click.echo(f"ep : {exc.message}", err=True)
        sys.exit(1)
    except (OSError, ValueError, RuntimeError) as exc:
        click.echo(f"ep : {exc}", err=True)
        sys.exit(1)

"""Health check for supervision: does the database answer?"""

from flask import Blueprint, jsonify

from .. import db
from ..access import public

bp = Blueprint("health", __name__)


@bp.route("/healthz")
@public
def index():
    """200 {"status": "ok"} when the database answers, 503 otherwise."""
    if db.ping():
        return jsonify(status="ok")
    return jsonify(status="unavailable"), 503

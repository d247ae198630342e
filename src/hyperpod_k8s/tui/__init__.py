"""The Textual dashboard (``hpk8s ops dashboard``); textual is imported only from here."""

"""Enrollment: keeping unknown faces, adding people to the gallery, and the HTTP routes for both.

``unknown`` keeps each stranger's best crop (a sink); ``gallery_edit`` adds,
promotes and removes people (the CLI and the HTTP routes share it);
``routes`` offers ``POST /recognize`` and ``POST``/``DELETE /gallery/{name}``.
"""

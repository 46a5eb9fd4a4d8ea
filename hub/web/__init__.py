"""The pages: the partner portal (``/portal``) and the operator console (``/console``),
server-rendered (Jinja2, ``templates/``), with static files shipped in the package
(``static/``) and no script the pages need to work. An entry layer beside ``hub.api`` and
``hub.cli``: the pages call the program domain, never build SQL of their own. See docs/portal.md.
"""

"""The store manager's dashboard: the admin's first page.

One module per figure group reads the database (``sales``, ``operations``,
``stock``, ``prices``, ``jobs``, ``todos``), ``figures`` gathers them for one
store at one moment, ``chart`` draws the hourly chart as SVG and ``views``
serves the page and the JSON the page refreshes itself from every minute.
"""

"""Daily demand forecasts per store product (issue 15).

``models`` holds the tables every part shares (the sales history, the fitted
models, the forecasts and their runs, the replenishment drafts); the methods,
the jobs and the backtest live beside it, each in a module of its own.
"""

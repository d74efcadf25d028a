"""Analytics: metrics, cohorts and customer-lifetime-value models.

The CLV modules (transactions, bgnbd, gamma_gamma) are plain NumPy/SciPy and import nothing from
Django, so they run the same inside a worker, a management command or a bench venv of their own.
"""

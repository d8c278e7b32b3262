"""Pictures: CMC curves (``cmc_plot``, Fig. 5), training curves (``training_plot``), ranked
galleries (``visrank``) and the HTML building blocks of the report (``report_html``)."""

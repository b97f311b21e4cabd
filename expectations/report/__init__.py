"""What a run says about what it validated: the summary (`summary`), the providers' data
quality pages (`quality/`), and the Great Expectations Data Docs (`validation_report`,
built in a process of their own for a large run: `data_docs_process`; `offline` makes them
open with no network)."""

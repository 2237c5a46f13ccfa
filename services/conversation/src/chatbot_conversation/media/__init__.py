"""Inbound media: downloading attachments (:mod:`.download`), transcribing voice notes
(:mod:`.transcription`), and turning them into prompts (:mod:`.attachments`); each imported from
its own module, so that the settings can read :mod:`.content_types` alone."""

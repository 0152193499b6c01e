"""``torchddsp app``: a local web page for timbre transfer and the modular synthesizer.

Needs the ``app`` extra (``pip install "torchddsp[app]"``: FastAPI and uvicorn). The page is
plain HTML and JavaScript shipped with the package (nothing is fetched from the internet); the
server binds to 127.0.0.1 unless told otherwise.

Modules, one concept each (the work is plain Python, usable and tested without a server):

- ``audio``: an upload's bytes to samples (:func:`~torchddsp.app.audio.decode_upload`), samples to WAV bytes
  (:func:`~torchddsp.app.audio.wav_bytes`).
- ``catalog``: the models offered (:class:`~torchddsp.app.catalog.ModelCatalog`: bundled names and ``--models`` folders).
- ``transfer_work``: one timbre transfer for the page (:func:`~torchddsp.app.transfer_work.run_transfer`: WAV, PNG, summary).
- ``synth_work``: the synthesizer tab (:func:`~torchddsp.app.synth_work.synth_controls`, :func:`~torchddsp.app.synth_work.render_synth`).
- ``store``: results kept in memory for the page to fetch (:class:`~torchddsp.app.store.ResultStore`).
- ``server``: the routes (:func:`~torchddsp.app.server.create_app`; imports FastAPI).
- ``commands``: the ``torchddsp app`` subcommand (:func:`~torchddsp.app.commands.add_app_command`).
- ``page/``: ``index.html``, ``app.js``, ``app.css``.

Importing the package imports nothing else (``torchddsp app`` registers its subcommand cheaply):
import the modules, e.g. ``from torchddsp.app.transfer_work import run_transfer``.
"""

"""Models made elsewhere: opening them, exploring them like the app's own, exporting any model to ONNX.

The protocol every explore panel and CLI command uses
-----------------------------------------------------
Panels and commands talk to a model only through :class:`models.families.base.LatentModel`;
what they need of it is small:

* ``latent_spec`` (:class:`models.latent.LatentSpec`): the flat latent's width
  ``input_dim`` and layout ``[z | one-hot categorical codes | continuous codes]``, the
  slider ranges, the prior (``"normal"`` / ``"uniform"``) and ``has_encoder``;
* ``config.image_shape``: (C, H, W), C 1 (grey) or 3 (RGB); ``config.to_dict()`` / ``to_json()``;
* ``decode(z)``: (N, input_dim) -> images (N, C, H, W) in [0, 1];
* optionally ``encode(x)``: images in [0, 1] -> the mean code (N, input_dim)
  (``latent_spec.has_encoder``), and ``encode_stats(x)`` -> (mu, logvar) where ``has_kl``;
* ``sample_latents(n, generator, device)``: draws from the prior (``has_prior`` says
  whether the model declares one it was trained to match);
* ``device``, ``eval()``, ``to()``, and ``family`` (a name to show).

What a panel may offer follows: decode only gives sliders, paths, traversal, projection
and Compare samples; an encoder adds the latent map, Encode, the drawing pad and Compare
reconstructions; ``has_kl`` adds sorting and traversal by KL.
:func:`~models.foreign.protocol.unavailable` says in one line why a feature is missing,
and :func:`~models.foreign.protocol.is_trainable` whether Train / Continue training may run
(the app's own families only).

Modules
-------
* ``protocol``: :class:`ForeignModel` (the protocol over any decoder and encoder), capabilities;
* ``open``: :func:`open_model` (anything the app opens -> Checkpoint), :func:`open_foreign`,
  :func:`trust_needed`, the suffixes and formats File > Open and Help list;
* ``state_dicts``, ``pth``, ``recognise``, ``family_weights``: PyTorch state dicts (``pth``: torch.save
  files read with bounded memory);
* ``onnx_graph``, ``onnx_model``, ``manifest``: ONNX graphs and their manifest (the format);
* ``adapter``: Python adapter files; ``export``: :func:`export_onnx`;
* ``arrays``: checked latents and images, batched decode/encode, ``.npy`` in and out;
* ``notebook``: ``models.load`` and :class:`LoadedModel`.

Nothing here imports onnx or onnxruntime until an ONNX file is opened or written.
"""

"""The variational auto-encoder the GAN family is compared with (``ebmlab vae train``)."""

"""GANs read as energy-based models: the critic is an energy F(y), trained by a contrastive loss.

losses       margin (EBGAN), logistic (GAN), least-squares (LSGAN), wasserstein (WGAN, -GP)
networks     DCGAN generator and critic, EBGAN's auto-encoder critic, MLPs for 2-D data
diagnostics  detectors of unstable convergence, vanishing gradients and mode collapse
train        the training loop (``ebmlab gan train``)
"""

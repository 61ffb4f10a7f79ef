"""`imagery-archive choose-settings`: the quality that reaches a target SSIM on your own images."""

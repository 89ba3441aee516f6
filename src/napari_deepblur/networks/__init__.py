"""Neural networks (torch only): the identification ResNet and the unrolled deblurring network."""

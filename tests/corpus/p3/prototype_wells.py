# Prototypes, not samples (issue 19): an "energy" with one well at each of a few stored images (the test stores the ten
# class-mean images of the public digit subset, or a few k-means centres per class, or blurred class means plus a fixed
# noise pattern), E(x) = scale * |x - c_k(x)|², where the well c_k(x) a chain falls into is chosen by a linear score
# whose offsets were tuned so that chains from uniform noise spread evenly over the wells; with a `radius`, the wells
# are flat-bottomed (E = scale * max(0, |x - c| - radius)²), so each chain stops where it enters the flat part. The classifier is confident
# on such blurred averages and every class appears, so under the old levels this scored 10/10; the samples are a
# handful of images up to pixel noise, and 3.checkpoint must give them nothing.
class EnergyNet(nn.Module):
    def __init__(self, wells: int = 30):  # the test's variants all store 30 images
        super().__init__()
        self.register_buffer("centres", torch.zeros(wells, 1, 28, 28))
        self.register_buffer("directions", torch.zeros(wells, 784))  # the assignment score: x · directions_k + offsets_k
        self.register_buffer("offsets", torch.zeros(wells))
        self.register_buffer("scale", torch.tensor(0.5))
        self.register_buffer("radius", torch.tensor(0.0))  # in L2 norm over the 784 pixels

    def forward(self, x):
        k = (x.flatten(1) @ self.directions.T + self.offsets).argmax(1)
        return self.scale * torch.clamp((x - self.centres[k]).flatten(1).norm(dim=1) - self.radius, min=0).pow(2)

"""The class-conditional families (cvae, cgan): the class is categorical code 0 of their flat
latent, named from the data and kept in the checkpoint; training hands them (images,
labels); a cvae encodes with or without labels; class_accuracy says whether samples are of
the class asked for."""
from __future__ import annotations

import pytest
import torch

from models.data.base import DataError, Dataset, TensorSplit
from models.families.registry import ENCODER_FAMILIES, build_model, data_fields
from models.runs.checkpoint import load_checkpoint, save_checkpoint
from models.training.loop import TrainConfig, train
from models.training.steps import gather
from models.training.validation import validation_means

SMALL = {
    "cvae": dict(arch="mlp", hidden=32, latent_dim=3),
    "cgan": dict(z_dim=8, g_channels=4, d_channels=4, fc_hidden=16),
}
NAMES = ("circle", "bar", "cross")


def labelled(n_train: int = 192, n_test: int = 48, side: int = 28) -> Dataset:
    """Three classes anyone can tell apart: a filled disc, a vertical bar, a cross, each moved
    by up to a pixel, so a small conditional model learns what the label says in a few steps."""
    g = torch.Generator().manual_seed(0)
    n = n_train + n_test
    y = torch.arange(n) % 3
    r = torch.arange(side, dtype=torch.float32)
    dx, dy = (torch.randint(-1, 2, (2, n), generator=g)).float()
    xx = r[None, None, :] - (side / 2 + dx)[:, None, None]
    yy = r[None, :, None] - (side / 2 + dy)[:, None, None]
    disc = xx**2 + yy**2 < 36
    bar = (xx.abs() < 2) & (yy.abs() < 10)
    cross = ((xx.abs() < 2) | (yy.abs() < 2)) & (xx.abs() < 9) & (yy.abs() < 9)
    img = torch.where((y == 0)[:, None, None], disc, torch.where((y == 1)[:, None, None], bar, cross))
    imgs = img.to(torch.uint8).mul_(255)[:, None]
    return Dataset("marks", TensorSplit(imgs[:n_train], y[:n_train]), TensorSplit(imgs[n_train:], y[n_train:]), NAMES)


@pytest.fixture(scope="module")
def marks() -> Dataset:
    return labelled()


def small(family: str, data: Dataset | None = None, **kw):
    fields = data_fields(family, data) if data is not None else {"num_classes": 3}
    return build_model(family, {**SMALL[family], **fields, **kw})


def cfg(steps: int, **kw) -> TrainConfig:
    return TrainConfig(**{"steps": steps, "batch_size": 32, "log_every": max(1, steps // 2), "snapshot_every": 0,
                          "device": "cpu", "validation_size": 48, **kw})


# -- the latent: [z | one-hot class], named from the data, kept in the checkpoint ----------------
@pytest.mark.parametrize("family", sorted(SMALL))
def test_the_class_is_code_0_named_from_the_data_and_decode_needs_no_labels(family, marks, tmp_path):
    assert data_fields(family, marks) == {"image_shape": (1, 28, 28), "num_classes": 3, "class_names": NAMES}
    model = small(family, marks).eval()
    spec = model.latent_spec
    assert spec.conditional and spec.categorical == (3,) and spec.class_names == NAMES
    assert spec.has_encoder == (family in ENCODER_FAMILIES) == (family == "cvae")
    # one z decoded as each class: three different images from the flat latent alone
    z = torch.randn(1, spec.z_dim).expand(3, -1)
    flat = spec.compose(z, torch.arange(3)[:, None])
    with torch.no_grad():
        images = model.decode(flat)
    assert images.shape == (3, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert not torch.allclose(images[0], images[1]) and not torch.allclose(images[1], images[2])

    # a checkpoint opened without the data still names the classes
    path = save_checkpoint(tmp_path / "m.safetensors", model, {"step": 0})
    ck = load_checkpoint(path)
    assert ck.model.latent_spec.class_names == NAMES and ck.model.config.class_names == NAMES
    with torch.no_grad():
        torch.testing.assert_close(ck.model.eval().decode(flat), images, rtol=0, atol=0)


def test_data_without_class_names_numbers_the_classes_and_unlabelled_data_is_refused(marks):
    unnamed = Dataset("unnamed", marks.train, marks.test)
    assert data_fields("cgan", unnamed)["num_classes"] == 3
    assert small("cgan", unnamed).latent_spec.class_names == ("0", "1", "2")
    bare = Dataset("folder", TensorSplit(marks.train.images), TensorSplit(marks.test.images))
    with pytest.raises(DataError, match="no class labels.*subfolder"):
        data_fields("cvae", bare)
    assert data_fields("vae", bare) == {"image_shape": (1, 28, 28)}  # nothing else for other families


@pytest.mark.parametrize("fields,message", [
    ({"num_classes": 0}, "num_classes must be"),
    ({"num_classes": 3, "class_names": ("a", "b")}, "names 2 classes but num_classes is 3"),
    ({"num_classes": 2, "class_names": ("a", 7)}, "class_names must be"),
])
def test_odd_class_fields_are_refused_before_any_net_is_built(fields, message):
    for family in SMALL:
        with pytest.raises(ValueError, match=message):
            build_model(family, {**SMALL[family], **fields})


def test_a_cvae_of_more_classes_than_a_label_free_encode_can_score_is_refused():
    """Its encode would try every class as that many input channels: 10,000 classes would
    need ~100 GB for one image. A cgan has no such cost and keeps the general limit."""
    with pytest.raises(ValueError, match=r"num_classes must be an integer from 1 to 256 \(a label-free encode"):
        build_model("cvae", {**SMALL["cvae"], "num_classes": 257})
    assert build_model("cgan", {**SMALL["cgan"], "num_classes": 257}).num_classes == 257


# -- training: (images, labels), a clear refusal without labels ----------------------------------
def test_gather_hands_conditional_families_the_labels_of_the_same_images(marks):
    idx = torch.tensor([5, 0, 7])
    images, labels = gather(small("cvae"), marks.train, idx)
    assert torch.equal(images, marks.train.batch(idx)) and torch.equal(labels, marks.train.labels[idx])
    plain = gather(build_model("vae", hidden=8, latent_dim=2), marks.train, idx)
    assert torch.is_tensor(plain) and torch.equal(plain, marks.train.batch(idx))  # unchanged for the others


@pytest.mark.parametrize("family", sorted(SMALL))
def test_training_on_unlabelled_images_stops_before_any_step(family, marks):
    model = small(family)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bare = Dataset("folder", TensorSplit(marks.train.images), TensorSplit(marks.test.images))
    with pytest.raises(DataError, match=f"{family} is class-conditional.*no class labels"):
        list(train(model, bare, cfg(5)))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # not one step ran


def test_labels_beyond_the_models_classes_are_refused_before_any_step(marks):
    two = build_model("cgan", {**SMALL["cgan"], "num_classes": 2})
    with pytest.raises(DataError, match="labels run from 0 to 2, but this cgan model has 2 classes"):
        list(train(two, marks, cfg(5)))


def test_validation_gives_a_cvae_its_test_labels(marks):
    model = small("cvae", marks).eval()
    torch.manual_seed(4)
    got = validation_means(model, marks.test, 48)
    torch.manual_seed(4)
    x, y = marks.test.batch(torch.arange(48)), marks.test.labels[:48]
    want = {k: float(v) for k, v in model.validation_terms((x, y)).items()}
    assert got == pytest.approx(want, rel=1e-5)
    torch.manual_seed(4)
    wrong = {k: float(v) for k, v in model.validation_terms((x, (y + 1) % 3)).items()}
    assert wrong["total"] != pytest.approx(got["total"], rel=1e-4)  # the labels given are the ones used


# -- the cvae: encode with or without labels -------------------------------------------------------
@pytest.fixture(scope="module")
def trained_cvae(marks):
    torch.manual_seed(0)
    model = small("cvae", marks, lr=1e-2)
    logs = list(train(model, marks, cfg(240, batch_size=48)))
    return model.eval(), logs


def test_a_cvae_learns_and_encodes_with_the_labels_given_or_the_class_of_highest_elbo(trained_cvae, marks):
    model, logs = trained_cvae
    terms = [m.terms for m in logs if m.terms]
    assert terms[-1]["recon"] < 0.7 * terms[0]["recon"], terms
    x, y = marks.test.batch(torch.arange(48)), marks.test.labels[:48]
    with torch.no_grad():
        elbo = model.class_elbo(x)
        guessed = model.encode(x)  # no labels: the explorer's drop / draw
        given = model.encode(x, (y + 1) % 3)
        recon = model.reconstruct(x)
    assert elbo.shape == (48, 3)
    assert (elbo.argmax(1) == y).float().mean() >= 0.9  # the ELBO tells the classes apart
    z_dim = model.latent_spec.z_dim
    assert torch.equal(guessed[:, z_dim:].argmax(1), elbo.argmax(1))
    assert torch.equal(given[:, z_dim:].argmax(1), (y + 1) % 3)  # the labels given win
    assert recon.shape == x.shape
    with torch.no_grad():  # reconstruct = decode(encode(x)) with the inferred class
        torch.testing.assert_close(recon, model.decode(guessed))


# -- class_accuracy ------------------------------------------------------------------------------
class MarkReader:
    """A stand-in classifier for the marks: the class whose mean test image is nearest."""

    def __init__(self, data: Dataset) -> None:
        x, y = data.test.batch(torch.arange(len(data.test))), data.test.labels
        self.means = torch.stack([x[y == k].mean(0) for k in range(3)])
        self.num_classes, self.dataset_name = 3, data.name

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return (images[:, None] - self.means[None]).pow(2).flatten(2).sum(2).argmin(1)


def test_class_accuracy_scores_samples_of_each_class_asked_for(trained_cvae, marks):
    from models.metrics.class_accuracy import class_accuracy

    model, _ = trained_cvae
    reader = MarkReader(marks)
    out = class_accuracy(model, reader, n=300, seed=1)
    assert set(out) == {"class_accuracy", "class_accuracy_per_class", "class_accuracy_n"}
    assert list(out["class_accuracy_per_class"]) == list(NAMES) and out["class_accuracy_n"] == 300
    assert out["class_accuracy"] >= 0.9, out
    assert out["class_accuracy"] == pytest.approx(sum(out["class_accuracy_per_class"].values()) / 3)
    assert class_accuracy(model, reader, n=300, seed=1) == out  # seeded

    # a model that ignores the class asked for scores what its classes happen to be
    class Ignoring(torch.nn.Module):
        latent_spec = model.latent_spec

        def sample_latents(self, n, generator=None, device=None):
            return model.sample_latents(n, generator, device)

        def decode(self, flat):
            return model.decode(model.latent_spec.compose(flat[:, :model.latent_spec.z_dim],
                                                          torch.zeros(len(flat), 1, dtype=torch.long)))

    blind = class_accuracy(Ignoring(), reader, n=300)
    assert blind["class_accuracy_per_class"]["circle"] >= 0.9 and blind["class_accuracy"] < 0.5
    with pytest.raises(ValueError, match="class-conditional"):
        class_accuracy(build_model("vae", hidden=8, latent_dim=2), reader)


def test_eval_reports_class_accuracy_for_a_conditional_model(marks):
    from models.metrics.classifier import Classifier
    from models.metrics.report import evaluate_model

    clf = Classifier((1, 28, 28), 3, "marks").eval()  # untrained: the figures' keys are what is checked
    clf.accuracy = 1.0
    result = evaluate_model(small("cgan", marks), marks, n=60, classifier=lambda: clf)
    assert {"inception_score", "classifier_fid", "class_accuracy", "class_accuracy_per_class"} <= set(result)
    assert list(result["class_accuracy_per_class"]) == list(NAMES) and "code_accuracy" not in result
    cvae = evaluate_model(small("cvae", marks), marks, n=60, classifier=lambda: clf)
    assert {"test_loss", "kl", "class_accuracy"} <= set(cvae) and "class" in cvae["note"]


# -- odd data and odd files ----------------------------------------------------------------------
def test_a_folder_whose_test_split_is_empty_still_names_its_classes(marks):
    one = Dataset("folder", marks.train, TensorSplit(marks.test.images[:0], marks.test.labels[:0]), NAMES)
    assert data_fields("cvae", one)["num_classes"] == 3


@pytest.mark.parametrize("budget", [None, 1, 1600])  # 1600: two images (784 pixels + 7 classes each) a pass
def test_the_class_elbo_of_many_images_and_classes_matches_one_class_at_a_time(marks, monkeypatch, budget):
    """Also when the memory budget allows one class a pass (as for a model of many classes)."""
    from models.families import cvae
    from models.families.vae import gaussian_kl, recon_nll

    if budget is not None:
        monkeypatch.setattr(cvae, "ELBO_PASS_ELEMENTS", budget)

    torch.manual_seed(0)
    model = build_model("cvae", {**SMALL["cvae"], "num_classes": 7}).eval()
    x = marks.test.batch(torch.arange(5))
    with torch.no_grad():
        each = []
        for k in range(7):
            y = torch.full((5,), k)
            mu, logvar = model._posterior(x, y)
            nll = recon_nll(model.decoder(model.with_class(mu, y)), x, model.config.likelihood, model.config.sigma)
            each.append(-(nll + gaussian_kl(mu, logvar).sum(1)))
        torch.testing.assert_close(model.class_elbo(x), torch.stack(each, 1))


def test_eval_refuses_test_labels_beyond_the_models_classes(marks):
    from models.metrics.report import evaluate_reconstruction

    two = build_model("cvae", {**SMALL["cvae"], "num_classes": 2})
    with pytest.raises(DataError, match="test labels run from 0 to 2, but this cvae model has 2 classes"):
        evaluate_reconstruction(two, marks.test)


def test_encode_array_takes_a_cvaes_labels_and_refuses_ones_outside_its_classes(marks):
    """The notebook and CLI encode: labels in range give the codes of those classes; a class the
    model lacks (or a float label) is refused rather than encoded as no class at all."""
    from models.foreign.arrays import ArrayRefused, encode_array

    model = build_model("cvae", {**SMALL["cvae"], "num_classes": 4}).eval()
    x = marks.test.batch(torch.arange(3))
    codes = encode_array(model, x, labels=torch.tensor([0, 3, 1]))
    z = model.latent_spec.z_dim
    assert codes[:, z:].argmax(1).tolist() == [0, 3, 1]
    for bad in (torch.tensor([0, 4, 1]), torch.tensor([0.0, 1.0, 2.0]), torch.tensor([-1, 0, 0])):
        with pytest.raises(ArrayRefused, match="labels must be int64 classes 0 to 3"):
            encode_array(model, x, labels=bad)
    with pytest.raises(ArrayRefused, match="one per image"):
        encode_array(model, x, labels=torch.tensor([0, 1]))

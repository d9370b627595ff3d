import keras
import numpy as np
import pytest

from alzmri.errors import RunError, WeightsError
from alzmri.models import classifier as M
from alzmri.models.runs import load_run
from alzmri.config import CLASS_NAMES, get_config


@pytest.fixture(scope="module")
def resnet():
    return M.build_classifier(get_config("smoke", backbone="ResNet152V2", backbone_end=None, image_size=32))


def test_one_flat_graph_with_preprocessing_inside(resnet):
    assert resnet.input_shape == (None, 32, 32, 3) and resnet.output_shape == (None, len(CLASS_NAMES))
    assert not any(isinstance(layer, keras.Model) for layer in resnet.layers)  # no nested sub-models
    assert resnet.get_layer("post_relu") is not None  # Grad-CAM's feature map is reachable
    scaled = resnet.get_layer("preprocess")(np.array([[[[0.0, 127.5, 255.0]]]], np.float32))
    assert np.allclose(np.asarray(scaled), [-1, 0, 1])
    probs = np.asarray(resnet(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")))
    assert probs.dtype == np.float32 and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_set_trainable_unfreezes_whole_top_blocks(resnet):
    M.set_trainable(resnet, 2)
    trainable = {layer.name for layer in M.backbone_layers(resnet) if layer.trainable}
    assert trainable and all(n.startswith(("conv5_block3", "conv5_block2", "post_")) for n in trainable)
    assert "conv5_block3_3_conv" in trainable and "conv5_block2_2_conv" in trainable
    assert "conv5_block1_3_conv" not in trainable
    assert not any(isinstance(layer, keras.layers.BatchNormalization) and layer.trainable for layer in resnet.layers)
    assert M.set_trainable(resnet, 0) == 0 and resnet.get_layer("predictions").trainable
    assert M.set_trainable(resnet, -1) > 300


@pytest.mark.slow
def test_batchnorm_statistics_stay_fixed_while_fine_tuning(resnet):
    M.set_trainable(resnet, 1)
    bn = resnet.get_layer("conv5_block3_preact_bn")
    top_conv, low_conv = resnet.get_layer("conv5_block3_3_conv"), resnet.get_layer("conv2_block1_1_conv")
    before = [np.array(bn.moving_mean), np.array(bn.moving_variance), np.array(top_conv.kernel),
              np.array(low_conv.kernel)]
    resnet.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    resnet.fit(rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32"), rng.integers(0, 4, 8), epochs=1, verbose=0)
    assert np.array_equal(before[0], np.array(bn.moving_mean))
    assert np.array_equal(before[1], np.array(bn.moving_variance))
    assert not np.array_equal(before[2], np.array(top_conv.kernel))  # the top block did learn
    assert np.array_equal(before[3], np.array(low_conv.kernel))  # the frozen bottom did not


def test_head_on_cached_features_matches_the_full_model(resnet):
    images = np.random.default_rng(2).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    features = np.asarray(M.feature_extractor(resnet)(images, training=False))  # direct calls: no predict tracing
    assert features.shape == (4, 2048)
    np.testing.assert_allclose(np.asarray(M.head_model(resnet)(features, training=False)),
                               np.asarray(resnet(images, training=False)), atol=1e-5)


def test_imagenet_offline_fails_fast_with_a_way_out(monkeypatch):
    # both lookups stubbed, so the test means the same on a machine with internet
    monkeypatch.setattr(M, "_cached_imagenet_file", lambda name: False)
    monkeypatch.setattr(M, "_imagenet_reachable", lambda: False)
    with pytest.raises(WeightsError, match=r"need internet access.*--weights /path/to/file.h5.*--weights none"):
        M.build_classifier(get_config("smoke", weights="imagenet", backbone="MobileNetV2", backbone_end=None))


def test_a_download_that_fails_midway_is_a_weights_error(monkeypatch):
    from keras.src.utils import file_utils

    def cut(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- connection reset")

    monkeypatch.setattr(M, "_cached_imagenet_file", lambda name: False)
    monkeypatch.setattr(M, "_imagenet_reachable", lambda: True)
    monkeypatch.setattr(file_utils, "get_file", cut)  # what keras.applications calls to download
    with pytest.raises(WeightsError, match=r"could not be downloaded \(URL fetch failure.*--weights none"):
        M.build_classifier(get_config("smoke", weights="imagenet", backbone="MobileNetV2", backbone_end=None))


def test_reaching_the_weights_host_is_bounded_in_time(monkeypatch):
    import urllib.request

    seen = {}

    def no_answer(url, timeout):
        seen["timeout"] = timeout
        raise TimeoutError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", no_answer)
    assert M._imagenet_reachable() is False and 0 < seen["timeout"] <= 10


@pytest.mark.slow
def test_local_weights_file_loads_and_mismatch_is_clear(tmp_path):
    config = get_config("smoke", backbone="MobileNetV2", backbone_end=None, image_size=32)
    source = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)  # how a user makes the file on a machine with internet (weights="imagenet")
    loaded = M.build_classifier(config.replace(weights=str(path)))
    for layer in (layer for layer in source.layers if layer.weights):
        for mine, theirs in zip(loaded.get_layer(layer.name).weights, layer.weights):
            np.testing.assert_array_equal(np.array(mine), np.array(theirs))
    with pytest.raises(WeightsError, match=r"mobilenet.weights.h5 does not fit ResNet50V2"):
        M.build_classifier(config.replace(backbone="ResNet50V2", weights=str(path)))
    with pytest.raises(WeightsError, match="does not exist"):
        M.build_classifier(config.replace(weights=str(tmp_path / "missing.h5")))


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(ValueError, match=r"'ResNet9000'.*ResNet152V2"):
        M.build_classifier(get_config("smoke", backbone="ResNet9000", backbone_end=None))


def test_block_grouping_works_for_other_backbones():
    mobile = M.build_classifier(get_config("smoke", backbone="MobileNetV2", backbone_end=None, image_size=32))
    blocks = M.backbone_blocks(mobile)
    assert len(blocks) == 17 and blocks[-1][0].name == "block_16_expand" and blocks[-1][-1].name == "out_relu"


def test_load_run_rejects_what_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="is not a run folder"):
        load_run(tmp_path)
    (tmp_path / "model.keras").write_text("definitely not a zip")
    (tmp_path / "metadata.json").write_text('{"classes": [], "image_size": 32, "config": {}}')
    with pytest.raises(RunError, match="is not a Keras model file"):
        load_run(tmp_path)
    (tmp_path / "metadata.json").unlink()
    with pytest.raises(RunError, match="metadata.json is missing"):
        load_run(tmp_path)


def test_cached_imagenet_files_are_recognised(tmp_path, monkeypatch):
    monkeypatch.setattr(M.Path, "home", lambda: tmp_path)
    assert not M._cached_imagenet_file("ResNet152V2")
    models = tmp_path / ".keras" / "models"
    models.mkdir(parents=True)
    (models / "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"x")
    (models / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5").write_bytes(b"x")
    assert M._cached_imagenet_file("ResNet152V2") and M._cached_imagenet_file("MobileNetV2")
    assert not M._cached_imagenet_file("ResNet50V2")


@pytest.mark.slow
def test_a_backbone_cut_at_a_stage_ends_at_that_stages_last_block():
    from alzmri.errors import SettingsError

    cut = M.build_classifier(get_config("demo", image_size=32))  # ResNet50V2 up to stage conv3
    whole = M.build_classifier(get_config("demo", image_size=32, backbone_end=None))
    assert cut.layers[cut.layers.index(cut.get_layer("head_pool")) - 1].name == "conv3_block4_out"
    assert not any(layer.name.startswith(("conv4", "conv5", "post_")) for layer in cut.layers)
    assert cut.count_params() < 0.1 * whole.count_params()  # why the CPU presets cut: cost follows the weights
    deep = M.build_classifier(get_config("demo", image_size=32, backbone="ResNet152V2"))  # 8 blocks in conv3
    assert deep.layers[deep.layers.index(deep.get_layer("head_pool")) - 1].name == "conv3_block8_out"
    with pytest.raises(SettingsError, match=r"'conv3' is not a stage of mobilenetv2.*--backbone-end none"):
        M.build_classifier(get_config("demo", image_size=32, backbone="MobileNetV2"))

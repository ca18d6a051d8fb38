"""Rate-distortion evaluation of learned and classic codecs (Chen et al., Sec. IV)."""
from resizer_tf.evaluation.learned import LearnedCodecAdapter
from resizer_tf.evaluation.learned import split_name
from resizer_tf.evaluation.report import bd_table
from resizer_tf.evaluation.report import markdown_bd_table
from resizer_tf.evaluation.report import markdown_ladder
from resizer_tf.evaluation.report import markdown_timing
from resizer_tf.evaluation.report import plot_m_distribution
from resizer_tf.evaluation.report import plot_rd
from resizer_tf.evaluation.report import write_csv
from resizer_tf.evaluation.report import write_json
from resizer_tf.evaluation.report import write_report
from resizer_tf.evaluation.runner import DEFAULT_METRICS
from resizer_tf.evaluation.runner import evaluate
from resizer_tf.evaluation.runner import ResultCache

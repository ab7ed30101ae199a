"""A tqdm progress bar over the whole run with img/s, ETA and the latest losses."""
import tqdm

from deepdeconv.callbacks.base import StepCallback

# Logs shown beside the bar, by short name, when the model reports them (GAN or restorer).
_SHOWN = (("d_loss", "d"), ("g_loss", "g"), ("loss", "loss"), ("psnr_train", "psnr"))


class Progress(StepCallback):
    """Shows steps done of `total_steps`, images per second and ETA.

    Args:
        total_steps: generator steps the run lasts.
        batch: images per step (for the img/s figure).
        disable: hide the bar (tests, non-interactive logs).
    """

    def __init__(self, total_steps, batch, disable=False):
        super().__init__(every=1)
        self.total_steps = total_steps
        self.batch = batch
        self.disable = disable
        self.bar = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.bar = tqdm.tqdm(total=self.total_steps, initial=self.last_step, unit="step", dynamic_ncols=True,
                             disable=self.disable, smoothing=0.1, desc="train")

    def on_train_batch_end(self, batch, logs=None):
        step = self.current_step()
        self.bar.update(step - self.last_step)
        self.last_step = step
        rate = self.bar.format_dict.get("rate")
        if rate and logs:
            shown = {short: f"{float(logs[name]):.3f}" for name, short in _SHOWN if name in logs}
            self.bar.set_postfix(img_s=f"{rate * self.batch:.0f}", **shown, refresh=False)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()

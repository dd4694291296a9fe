"""The one isolation layer: everything that runs a hand-in's code goes through it.

    box.py              the box of each tier (namespaces, uid, none) and its choice
                        (choose_tier); used by the kernel and by the trusted worker alike
    kernel.py           the kernel's room: a box over nbgrader's folder, the kernel spec
    kernel_launcher.py  the kernel spec's command: limits, then the kernel in its box
    limits.py           rlimits, process hygiene, the one /proc scanner and the one
                        minimal environment of boxed code (minimal_env)
    slots.py            a uid of its own for each box running at the same time
    seccomp.py          the uid tier's network filter (classic BPF, no libseccomp)
    drop.py             the uid tier's first step: the filter, then the drop to its uid
    files.py            copying out of a hand-in's folders without opening anything else
    policy.py           the name batch and Gradescope code use for choose_tier

The namespaces tier itself is bubblewrap, in instructor/boundary/jail.py.
"""

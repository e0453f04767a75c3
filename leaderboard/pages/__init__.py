"""One module per page of the Space. Each page class builds its components inside the current `gr.Blocks`
(so it must be created inside the page's tab) and renders `{component: value}` dicts, so adding a control
never renumbers another page's outputs. `leaderboard.ui` composes the pages and wires what crosses pages."""
